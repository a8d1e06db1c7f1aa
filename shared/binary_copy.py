"""Reading PostgreSQL's binary COPY of fixed-width rows straight into numpy (the simulation's
register, the sandbox's seeded store): a million rows without a Python object per value. Every
field must be NOT NULL and of fixed width (uuid V16, int2/4/8, bool, a char(n)-like text S<n>)."""

from __future__ import annotations

from typing import Any

import numpy as np

HEADER = 19  # signature (11) + flags (4) + header extension length (4), no extension
TRAILER = 2  # the -1 field count that ends the data


def row_dtype(fields: list[tuple[str, str]]) -> np.dtype:
    """A row: its field count, then each field's length and value (big-endian, as sent)."""
    dtype = [("n", ">i2")]
    for name, kind in fields:
        dtype += [(f"{name}_len", ">i4"), (name, kind)]
    return np.dtype(dtype)


def rows(buffer: bytes, fields: list[tuple[str, str]]) -> np.ndarray:
    """The rows of a whole binary COPY."""
    return np.frombuffer(memoryview(buffer)[HEADER:len(buffer) - TRAILER], dtype=row_dtype(fields))


async def copy_out(conn: Any, query: str) -> bytes:
    """`COPY (query) TO STDOUT (FORMAT binary)` on an asyncpg connection, whole."""
    chunks: list[bytes] = []

    async def write(data: bytes) -> None:
        chunks.append(data)

    await conn.copy_from_query(query, output=write, format="binary")
    return b"".join(chunks)


async def copy_rows(conn: Any, query: str, fields: list[tuple[str, str]]) -> np.ndarray:
    return rows(await copy_out(conn, query), fields)


__all__ = ["HEADER", "TRAILER", "row_dtype", "rows", "copy_out", "copy_rows"]
