"""The simulation reads the register's members as PostgreSQL sends them and asks the income
registry for each batch of IINs meanwhile (services/eligibility/simulation.py `_StreamedRows`):
every IIN is asked once, in order, whatever the chunks' sizes, and the rows come back whole."""

from __future__ import annotations

import asyncio
import random

import numpy as np

from services.eligibility.reassessment.extract import Incomes
from services.eligibility.simulation import _StreamedRows
from shared.binary_copy import HEADER as _COPY_HEADER
from shared.binary_copy import row_dtype as _row_dtype

FIELDS = [("family_id", "V16"), ("iin", "S12"), ("birth", ">i4")]


def _copy_body(n: int) -> tuple[bytes, list[str]]:
    dtype = _row_dtype(FIELDS)
    rows = np.zeros(n, dtype)
    rows["n"] = len(FIELDS)
    rows["family_id_len"], rows["iin_len"], rows["birth_len"] = 16, 12, 4
    iins = [f"{900000000000 + i:012d}" for i in range(n)]
    rows["iin"] = np.array(iins, "S12")
    rows["birth"] = np.arange(n)
    return b"PGCOPY\n\xff\r\n\x00" + b"\x00" * 8 + rows.tobytes() + b"\xff\xff", iins


def test_every_iin_is_asked_once_in_batches_while_the_rows_arrive():
    body, iins = _copy_body(1_037)
    assert len(b"PGCOPY\n\xff\r\n\x00" + b"\x00" * 8) == _COPY_HEADER
    asked: list[list[str]] = []

    async def ask(batch: list[str]) -> Incomes:
        asked.append(batch)
        return Incomes.empty()

    async def read() -> tuple[np.ndarray, int]:
        streamed = _StreamedRows(FIELDS, ask, batch=100)
        rng = random.Random(7)
        at = 0
        handed_before_the_end = 0
        while at < len(body):
            size = rng.randint(1, 700)
            await streamed.write(body[at:at + size])
            at += size
            handed_before_the_end = len(streamed.asked())
        rows = streamed.rows()
        await asyncio.gather(*streamed.asked())
        return rows, handed_before_the_end

    rows, early = asyncio.run(read())
    assert [len(b) for b in asked] == [100] * 10 + [37]
    assert [i for b in asked for i in b] == iins
    assert early == 10  # the whole batches were asked before the COPY ended
    assert rows["iin"].astype("U12").tolist() == iins and rows["birth"].tolist() == list(range(1_037))
