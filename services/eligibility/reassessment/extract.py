"""The income registry's bulk extract, read the one way the reassessment run and the simulation
both read it.

`POST /registry/v1/incomes/extract` {quarter, iins} answers CSV: a header `iin,month,type,amount`,
then one line per income record — a 12-digit IIN, the month `YYYY-MM`, an income type of the
shared vocabulary, the amount in tenge with two decimals. A million families' members are 5.5
million IINs and about as many lines, so the body is read by Arrow's CSV reader (C++) and each
column checked and converted whole, with no Python object per line (about four times faster than
splitting the text and converting with numpy; see docs/benchmarks.md). It is read exactly: an
amount without its point is a whole number of tiyn, never a float. Anything the contract does not
allow — a line without four fields, an IIN that is not 12 digits, a month that is not `YYYY-MM`,
an unknown income type (which the rules could not classify as counted or disregarded), an amount
that is not tenge — fails the whole extract (`ExtractFailed`, naming the line and the field, never
the line's content): a family decided on a partly read extract would be decided on an understated
income.
"""

from __future__ import annotations

import re
import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from shared.calendar import Quarter

from .bulk import INCOME_TYPE_CODES

HEADER = b"iin,month,type,amount"
PATH = "/registry/v1/incomes/extract"
BATCH = 100_000  # IINs a request: the contract's limit


class ExtractFailed(Exception):
    """The income registry's extract did not answer, not 200, or not what the contract says."""


@dataclass(frozen=True, slots=True)
class Incomes:
    """Income records as parallel arrays: IIN (int64), month index (year*12+m-1, int32), type code
    (INCOME_TYPE_CODES, int8), amount (tiyn, int64)."""

    iin: np.ndarray
    month: np.ndarray
    type: np.ndarray
    amount: np.ndarray

    @staticmethod
    def empty() -> "Incomes":
        return Incomes(np.zeros(0, np.int64), np.zeros(0, np.int32), np.zeros(0, np.int8), np.zeros(0, np.int64))

    @staticmethod
    def concatenate(parts: Sequence["Incomes"]) -> "Incomes":
        if not parts:
            return Incomes.empty()
        if len(parts) == 1:
            return parts[0]
        return Incomes(*(np.concatenate([getattr(p, name) for p in parts]) for name in ("iin", "month", "type", "amount")))


async def post_extract(client: Any, quarter: Quarter, iins: Sequence[str]) -> bytes:
    """One request of the extract (`client`: an HTTP client whose base URL is the registry): the
    CSV's bytes, or ExtractFailed."""
    body = orjson.dumps({"quarter": str(quarter), "iins": list(iins)})
    try:
        response = await client.post(PATH, content=body, headers={"content-type": "application/json"})
    except Exception as error:  # noqa: BLE001 - an unreachable registry: the caller fails, resumably
        raise ExtractFailed(f"the income registry's extract failed: {type(error).__name__}") from None
    if response.status_code != 200:
        raise ExtractFailed(f"the income registry's extract answered {response.status_code}")
    return response.content


class IncomeExtract(Protocol):
    async def incomes(self, quarter: Quarter, iins: Sequence[str]) -> Incomes: ...


class HttpIncomeExtract:
    """`POST {registry}/registry/v1/incomes/extract` {quarter, iins} → Incomes, in batches of at
    most `batch` IINs (the contract's limit), `in_flight` of them asked at once (the registry
    answers each as it reads it), each body parsed on a thread as it arrives."""

    def __init__(self, client: Any, *, batch: int = BATCH, in_flight: int = 3) -> None:
        self._client, self._batch, self._in_flight = client, batch, in_flight

    async def incomes(self, quarter: Quarter, iins: Sequence[str]) -> Incomes:
        limit = asyncio.Semaphore(self._in_flight)

        async def one(part: Sequence[str]) -> Incomes:
            async with limit:
                body = await post_extract(self._client, quarter, part)
            return await asyncio.to_thread(parse_extract, body)

        return Incomes.concatenate(await asyncio.gather(*(one(iins[start:start + self._batch])
                                                          for start in range(0, len(iins), self._batch))))


# ------------------------------------------------------------------------------------ parsing

_COLUMNS = ["iin", "month", "type", "amount"]
_READ = pacsv.ConvertOptions(column_types={name: pa.string() for name in _COLUMNS}, strings_can_be_null=False,
                             quoted_strings_can_be_null=False)
_IIN = r"^\d{12}$"
_MONTH = r"^\d{4}-(0[1-9]|1[0-2])$"
_AMOUNT = r"^(?P<sign>-?)(?P<whole>\d{1,15})(?:\.(?P<cents>\d{1,2}))?$"
_TYPE_NAMES = pa.array(list(INCOME_TYPE_CODES))
_TYPE_CODE_OF = np.array(list(INCOME_TYPE_CODES.values()), np.int8)


def _checked(column: pa.ChunkedArray, pattern: str, field: str, what: str) -> None:
    matches = pc.match_substring_regex(column, pattern)
    if not pc.all(matches).as_py():
        line = int(pc.index(matches, False).as_py()) + 1
        raise ExtractFailed(f"the extract cannot be read: line {line}, {field} {what}")


def parse_extract(body: bytes) -> Incomes:
    """The extract's CSV → columns, exactly, or ExtractFailed (see the module's docstring). Read by
    Arrow's CSV reader (C++), each field checked by a regular expression over the whole column; an
    amount's tiyn are its digits without the point (`7000` and `0.5` are read as 7000.00 and 0.50)."""
    if not body.strip():
        return Incomes.empty()
    names = None if body.startswith(HEADER) else _COLUMNS
    try:
        table = pacsv.read_csv(pa.py_buffer(body), read_options=pacsv.ReadOptions(column_names=names),
                               convert_options=_READ)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        # Arrow's message quotes the line (personal data): not passed on
        raise ExtractFailed("the extract cannot be read: a line has not four fields") from None
    if table.column_names != _COLUMNS:
        raise ExtractFailed("the extract cannot be read: its header is not iin,month,type,amount")
    if table.num_rows == 0:
        return Incomes.empty()
    iin, months, types, amounts = (table.column(name) for name in _COLUMNS)
    if not (pc.all(pc.equal(pc.utf8_length(iin), 12)).as_py() and pc.all(pc.ascii_is_decimal(iin)).as_py()):
        _checked(iin, _IIN, "iin", "is not 12 digits")
    month = _month_numbers(months)
    type_index = pc.index_in(types, value_set=_TYPE_NAMES)
    if type_index.null_count:
        line = int(pc.index(pc.is_null(type_index), True).as_py()) + 1
        raise ExtractFailed(f"the extract cannot be read: line {line}, type is not an income type Qamqor knows")
    return Incomes(iin=pc.cast(iin, pa.int64()).to_numpy(), month=month,
                   type=_TYPE_CODE_OF[type_index.to_numpy()], amount=_tiyn(amounts))


def _month_numbers(months: pa.ChunkedArray) -> np.ndarray:
    """`YYYY-MM` → year*12+m-1: an extract names a quarter's three months, so the column is
    encoded as a dictionary and only its few labels are read."""
    encoded = pc.dictionary_encode(months).combine_chunks()
    labels = encoded.dictionary.to_pylist()
    if not all(re.fullmatch(_MONTH, label) for label in labels):
        _checked(months, _MONTH, "month", "is not YYYY-MM")
    numbers = np.array([int(label[:4]) * 12 + int(label[5:]) - 1 for label in labels], np.int32)
    return numbers[encoded.indices.to_numpy()]


def _tiyn(amounts: pa.ChunkedArray) -> np.ndarray:
    """Tenge with two decimals → tiyn: the digits without the point. An amount of another shape
    the contract tolerates (`7000`, `0.5`) goes the slower way, by regular expression."""
    point = pc.utf8_slice_codeunits(amounts, -3, -2)
    if pc.all(pc.equal(point, ".")).as_py():
        digits = pc.replace_substring(amounts, ".", "", max_replacements=1)
        if pc.all(pc.match_substring_regex(digits, r"^-?\d{3,17}$")).as_py():
            return pc.cast(digits, pa.int64()).to_numpy()
    _checked(amounts, _AMOUNT, "amount", "is not tenge with at most two decimals")
    parts = pc.extract_regex(amounts, _AMOUNT).combine_chunks()
    whole = pc.cast(parts.field("whole"), pa.int64()).to_numpy()
    cents = pc.cast(pc.utf8_rpad(pc.fill_null(parts.field("cents"), ""), 2, "0"), pa.int64()).to_numpy()
    tiyn = whole * 100 + cents
    negative = pc.equal(parts.field("sign"), "-").to_numpy(zero_copy_only=False)
    return np.where(negative, -tiyn, tiyn)


def families_of(member_iin: np.ndarray, member_family: np.ndarray, income_iin: np.ndarray) -> np.ndarray:
    """Each income's family (int32; -1 for an IIN that is no member's): the members' IINs sorted
    once and the incomes' looked up by binary search. IINs and the incomes' IINs must be of one
    kind (both bytes or both text)."""
    if not len(member_iin) or not len(income_iin):
        return np.full(len(income_iin), -1, np.int32)
    order = np.argsort(member_iin, kind="stable")
    ordered = member_iin[order]
    at = np.minimum(np.searchsorted(ordered, income_iin), len(ordered) - 1)
    found = ordered[at] == income_iin
    return np.where(found, np.asarray(member_family)[order][at], -1).astype(np.int32)


def incomes_by_family(incomes: Incomes, member_iin: np.ndarray,
                      member_family: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The bulk path's income columns (family, month, type, tiyn): the incomes of members only,
    each with its member's family, ordered by family (the extract's order kept within one)."""
    family = families_of(member_iin, member_family, incomes.iin)
    keep = family >= 0
    order = np.argsort(family[keep], kind="stable")
    return (family[keep][order].astype(np.int32), np.asarray(incomes.month, np.int32)[keep][order],
            np.asarray(incomes.type, np.int8)[keep][order], np.asarray(incomes.amount, np.int64)[keep][order])


__all__ = ["incomes_by_family", "ExtractFailed", "Incomes", "IncomeExtract", "HttpIncomeExtract", "parse_extract", "post_extract",
           "families_of", "HEADER", "PATH", "BATCH"]
