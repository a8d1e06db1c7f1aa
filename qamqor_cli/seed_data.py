"""The synthetic register `qamqor seed` writes (issue 12, point 5), as numpy columns.

Families come from `bench/synthetic.py` (the rules.md figures: regions weighted as TSA recipients
are, about 5.3 members, incomes around the regional poverty line), generated for the quarter of
the next reassessment run: their incomes lie in that run's assessment quarter (the quarter before
it), which is the quarter the sandbox's registry is seeded for. Every member gets a valid,
unique IIN (birth date, sex, a serial, the check digit); each income series (three monthly rows)
belongs to the applicant or the spouse, turn by turn.

Also: PostgreSQL's binary COPY format built straight from numpy columns (`copy_payload`), so a
million rows go to the server without a Python object per value.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from bench.synthetic import synthetic_population
from services.eligibility.domain import ParameterSet
from services.eligibility.reassessment import FamilyColumns
from shared.calendar import Quarter

_W1 = np.array((1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11), np.int64)
_W2 = np.array((3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2), np.int64)
SERIAL_BASE = 1001  # serials 1001, 1003, …; the even one after is the fallback when a serial has no check digit


@dataclass(frozen=True, slots=True)
class SeedData:
    columns: FamilyColumns  # families, members, incomes (incomes only of the assessment quarter)
    run_quarter: Quarter  # the quarter the next reassessment decides
    member_iin: np.ndarray  # int64, one per member row of `columns`
    income_iin: np.ndarray  # int64, one per income row: whose income it is

    @property
    def assessment_quarter(self) -> Quarter:
        return self.run_quarter.previous()


def _date_parts(day: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    d = day.astype("datetime64[D]")
    months = d.astype("datetime64[M]")
    year = months.astype(np.int64) // 12 + 1970
    month = months.astype(np.int64) % 12 + 1
    dom = (d - months.astype("datetime64[D]")).astype(np.int64) + 1
    return year, month, dom


def _weighted(day_parts: tuple[np.ndarray, ...], century: np.ndarray, serial: np.ndarray,
              weights: np.ndarray) -> np.ndarray:
    """Σ digit × weight over the 11 digits: YYMMDD (per distinct day), century, serial."""
    year, month, dom = day_parts
    yy = year % 100
    total = (yy // 10 * weights[0] + yy % 10 * weights[1] + month // 10 * weights[2] + month % 10 * weights[3]
             + dom // 10 * weights[4] + dom % 10 * weights[5])
    return total, century * weights[6] + (serial // 1000 * weights[7] + serial // 100 % 10 * weights[8]
                                          + serial // 10 % 10 * weights[9] + serial % 10 * weights[10])


def synthetic_iins(birth_day: np.ndarray, sex: np.ndarray) -> np.ndarray:
    """A valid IIN (as an int64) per person (days since 1970, 0 male / 1 female), unique: people
    sharing a birth date and sex get serials SERIAL_BASE + 2·rank (+1 when that serial has no
    check digit)."""
    n = len(birth_day)
    if n == 0:
        return np.zeros(0, np.int64)
    first_day = int(birth_day.min())
    day = (birth_day - first_day).astype(np.int64)
    key = day * 2 + sex.astype(np.int64)
    order = np.argsort(key)
    ordered = key[order]
    starts = np.r_[0, np.flatnonzero(ordered[1:] != ordered[:-1]) + 1]
    group_start = np.repeat(starts, np.diff(np.r_[starts, n]))
    rank = np.empty(n, np.int64)
    rank[order] = np.arange(n) - group_start
    serial = SERIAL_BASE + 2 * rank
    if n and serial.max() + 1 > 9999:
        raise ValueError("too many people share a birth date and sex for 4-digit serials")
    # the date's digits are computed once per distinct day (a table over the span of birth days)
    days = np.arange(first_day, int(birth_day.max()) + 1, dtype=np.int64)
    parts = _date_parts(days)
    if parts[0].min() < 1800 or parts[0].max() > 2099:
        raise ValueError("birth years must be 1800–2099")
    yy, month, dom = parts[0] % 100, parts[1], parts[2]
    date_number = (yy * 10_000 + month * 100 + dom)[day]  # YYMMDD
    date_w1, _ = _weighted(parts, np.zeros(0, np.int64), np.zeros(0, np.int64), _W1)
    date_w2, _ = _weighted(parts, np.zeros(0, np.int64), np.zeros(0, np.int64), _W2)
    century = ((parts[0] - 1800) // 100 * 2 + 1)[day] + sex.astype(np.int64)
    for attempt in (0, 1):
        _, rest1 = _weighted(parts, century, serial, _W1)
        _, rest2 = _weighted(parts, century, serial, _W2)
        first = (date_w1[day] + rest1) % 11
        second = (date_w2[day] + rest2) % 11
        check = np.where(first == 10, second, first)
        ok = check != 10
        if ok.all():
            break
        assert attempt == 0
        serial = np.where(ok, serial, serial + 1)
    return ((date_number * 10 + century) * 10_000 + serial) * 10 + check


def generate(families: int, params: ParameterSet, run_quarter: Quarter, *, seed: int = 0,
             workers: int = 2) -> SeedData:
    """`families` recipient families whose next reassessment is for `run_quarter`."""
    cols = synthetic_population(families, params, period=run_quarter, seed=seed, workers=workers)
    # every seeded family is a recipient: the run extends it (or ends it)
    cols = _replace(cols, extension=np.ones(families, np.bool_))
    member_iin = synthetic_iins(cols.birth_day, cols.sex)
    # each income series (3 rows, bench/synthetic.py) is the applicant's or the spouse's, in turn
    rows = len(cols.income_family)
    series = np.arange(rows, dtype=np.int64) // 3
    family = cols.income_family.astype(np.int64)
    first_series = np.zeros(families + 1, np.int64)
    np.cumsum(np.bincount(family, minlength=families) // 3, out=first_series[1:])
    turn = series - first_series[family]
    member_start = np.searchsorted(cols.member_family, np.arange(families, dtype=np.int32))
    size = np.diff(np.r_[member_start, len(cols.member_family)])
    owner = member_start[family] + turn % np.minimum(size[family], 2)
    income_iin = member_iin[owner]
    # the registry is seeded for the assessment quarter only: rows of the month before it go
    first = run_quarter.previous().month_index
    keep = (cols.income_month >= first) & (cols.income_month < first + 3)
    cols = _replace(cols, income_family=cols.income_family[keep], income_month=cols.income_month[keep],
                    income_type=cols.income_type[keep], income_amount=cols.income_amount[keep])
    return SeedData(columns=cols, run_quarter=run_quarter, member_iin=member_iin, income_iin=income_iin[keep])


def _replace(cols: FamilyColumns, **changes: np.ndarray) -> FamilyColumns:
    from dataclasses import fields

    values = {f.name: getattr(cols, f.name) for f in fields(FamilyColumns)}
    values.update(changes)
    return FamilyColumns(**values)


# ---------------------------------------------------------------------------- binary COPY

COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
COPY_TRAILER = struct.pack(">h", -1)
PG_EPOCH_DAYS = 10957  # 2000-01-01 in days since 1970-01-01

# column kind → numpy dtype of the value
_KINDS = {"int2": ">i2", "int4": ">i4", "int8": ">i8", "bool": "u1", "date": ">i4", "timestamptz": ">i8",
          "uuid": "V16", "float8": ">f8"}
_OID = {"varchar": 1043, "int4": 23}


def _fields(i: int, kind: str, values) -> tuple[list[tuple], list[tuple[str, object]]]:  # noqa: ANN001
    """The structured-dtype fields of column i after its length word, and (field, value) to fill."""
    if kind == "null":
        return [], []
    if kind.startswith("char"):
        return [(f"v{i}", f"S{kind[4:]}")], [(f"v{i}", values)]
    if kind == "numeric2":  # tiyn → numeric with 4 base-10000 digits (weight 2), scale 2; PostgreSQL strips zeros
        tiyn = np.asarray(values, np.int64)
        whole, cents = tiyn // 100, tiyn % 100
        digits = np.stack([whole // 100_000_000 % 10_000, whole // 10_000 % 10_000, whole % 10_000, cents * 100], 1)
        return ([(f"v{i}h", ">i2", (4,)), (f"v{i}d", ">i2", (4,))],
                [(f"v{i}h", np.array([4, 2, 0, 2], np.int16)), (f"v{i}d", digits)])
    if kind.startswith("array3:"):  # a one-dimensional array of 3 elements: array3:int4 or array3:varchar<N>
        element = kind[7:]
        oid, width = (_OID["int4"], 4) if element == "int4" else (_OID["varchar"], int(element[7:]))
        dtype = ">i4" if element == "int4" else f"S{width}"
        return ([(f"v{i}h", ">i4", (5,)), (f"v{i}e", [("len", ">i4"), ("value", dtype)], (3,))],
                [(f"v{i}h", np.array([1, 0, oid, 3, 1], np.int32)), (f"v{i}e.len", width), (f"v{i}e.value", values)])
    return [(f"v{i}", _KINDS[kind])], [(f"v{i}", values)]


def _byte_width(fields: list[tuple]) -> int:
    return np.dtype(fields).itemsize if fields else 0


def copy_payload(columns: list[tuple[str, object]], start: int = 0, stop: int | None = None,
                 rows_index: np.ndarray | None = None) -> bytes:
    """Rows of `columns` (kind, values) as one PostgreSQL binary COPY stream (header, tuples,
    trailer): rows start..stop, or the rows `rows_index` names. A value is an array (one per row)
    or a scalar (every row). Kinds, all of a fixed width: int2, int4, int8, bool, date (days since
    1970), timestamptz (microseconds since 1970), uuid (16-byte values, dtype V16), float8,
    `char<N>` (N-byte ASCII text), numeric2 (tiyn → numeric with 2 decimals, below 10^12 tenge),
    `array3:int4` / `array3:varchar<N>` (arrays of 3 elements, values shaped (rows, 3)), null."""
    arrays = [v for _, v in columns if isinstance(v, np.ndarray) and v.ndim >= 1]
    if rows_index is not None:
        count = len(rows_index)
    else:
        stop = len(arrays[0]) if stop is None else stop
        count = stop - start
    fields: list[tuple] = [("fields", ">i2")]
    fills: list[tuple[str, object]] = [("fields", len(columns))]
    for i, (kind, values) in enumerate(columns):
        if isinstance(values, np.ndarray) and values.ndim >= 1:
            values = values[rows_index] if rows_index is not None else values[start:stop]
        if kind == "date":
            values = np.asarray(values, np.int64) - PG_EPOCH_DAYS
        elif kind == "timestamptz":
            values = np.asarray(values, np.int64) - PG_EPOCH_DAYS * 86_400_000_000
        elif kind == "bool":
            values = np.asarray(values, np.uint8)
        own, fill = _fields(i, kind, values)
        fields.append((f"len{i}", ">i4"))
        fills.append((f"len{i}", -1 if kind == "null" else _byte_width(own)))
        fields += own
        fills += fill
    rows = np.empty(count, dtype=np.dtype(fields))
    for name, value in fills:
        if "." in name:
            outer, inner = name.split(".")
            rows[outer][inner] = value if np.ndim(value) == 0 else np.asarray(value)
        else:
            rows[name] = value
    return COPY_HEADER + rows.tobytes() + COPY_TRAILER


async def copy_columns(conn, table: str, columns: dict[str, tuple[str, object]],  # noqa: ANN001
                       batch: int = 1_000_000, rows_index: np.ndarray | None = None) -> int:
    """COPY the columns (name → (kind, values)) into `table`, `batch` rows per COPY stream (all
    rows, or those `rows_index` names)."""
    names = list(columns)
    specs = [columns[name] for name in names]
    if rows_index is None:
        rows_index = np.arange(max(len(v) for _, v in specs if isinstance(v, np.ndarray) and v.ndim >= 1))
    for start in range(0, len(rows_index), batch):
        payload = copy_payload(specs, rows_index=rows_index[start:start + batch])
        await conn.copy_to_table(table, source=_chunks(payload), columns=names, format="binary")
    return len(rows_index)


async def _chunks(payload: bytes, size: int = 4 << 20):  # noqa: ANN202
    view = memoryview(payload)
    for start in range(0, len(view), size):
        yield view[start:start + size]
