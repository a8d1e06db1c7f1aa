"""A synthetic population of TSA families, generated straight into columns (numpy).

Shaped on the seed-003 figures (rules.md): recipients by region (Turkestan 20.3%, Shymkent 11.3%,
Kyzylorda 8.2%, Almaty region 7.9%, Zhambyl 7.5%, Zhetysu 7%, the rest spread evenly), about 5.3
members per family, about two thirds of them children; incomes around the regional poverty line.
Used by the eligibility benchmark (`bench/eligibility/bench_engine.py`) and by the tests of the
reassessment path (`tests/unit/eligibility/test_bulk.py`).

Each random 64-bit word is cut into several fields, so generating a million families costs a few
passes over the data; blocks of families are generated on separate threads (numpy releases
the GIL).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from services.eligibility.domain import ParameterSet
from services.eligibility.domain.rules import poverty_line
from services.eligibility.reassessment import (
    BLOCK_FAMILIES,
    INCOME_TYPE_CODES,
    NO_DAY,
    RELATION_CODES,
    FamilyColumns,
    day_number,
    month_number,
)
from shared.calendar import Quarter
from shared.regions import REGIONS

_YEAR = 365.25

REGION_SHARES = {"61": 20.3, "79": 11.3, "43": 8.2, "19": 7.9, "31": 7.5, "33": 7.0}
_OTHER_SHARE = (100.0 - sum(REGION_SHARES.values())) / (len(REGIONS) - len(REGION_SHARES))

# members per family → relative frequency (mean ≈ 5.3)
FAMILY_SIZES = {1: 2, 2: 5, 3: 10, 4: 17, 5: 20, 6: 18, 7: 12, 8: 8, 9: 4, 10: 2, 11: 1, 12: 1}
# number of income sources (3 monthly rows each) → relative frequency
INCOME_SOURCES = {0: 10, 1: 45, 2: 35, 3: 10}
SOURCE_TYPES = {"wage": 55, "pension": 14, "benefit": 10, "business": 6, "employment_measure": 6,
                "alimony": 4, "farming": 3, "other": 2}
EXTRA_TYPES = {"large_family_allowance": 40, "scholarship": 20, "tsa": 20, "wage": 20}


def _table(weights: dict, size: int, codes) -> np.ndarray:
    """A lookup table of `size` entries in which each key fills a share proportional to its weight."""
    keys = list(weights)
    cumulative = np.cumsum([weights[k] for k in keys], dtype=np.float64)
    edges = np.round(cumulative / cumulative[-1] * size).astype(np.int64)
    table = np.empty(size, dtype=np.int64)
    start = 0
    for key, end in zip(keys, edges):
        table[start:end] = codes(key)
        start = end
    return table


def _region_table(regions: tuple[str, ...]) -> np.ndarray:
    weights = {i: REGION_SHARES.get(kato[:2], _OTHER_SHARE) for i, kato in enumerate(regions)}
    return _table(weights, 1 << 16, lambda k: k).astype(np.int16)


def synthetic_population(families: int, params: ParameterSet, *, period: Quarter = Quarter(2026, 2),
                         seed: int = 0, workers: int = 2) -> FamilyColumns:
    """`families` families applying on days spread over `period`."""
    regions = tuple(kato + "0000000" for kato in REGIONS)
    first_day = period.first_day
    next_first = period.next().first_day
    quarter_days = (next_first - first_day).days
    # approximate poverty line per region, to put incomes around it
    lines = np.array([poverty_line(params, r, first_day).amount for r in regions], dtype=np.int64)
    minimum = np.array([
        int(params.get("subsistence_minimum", period.previous().first_day, r).value) for r in regions
    ], dtype=np.int64)
    mci = int(params.get("mci", first_day).value)

    rng = np.random.default_rng(seed)
    family_word = rng.bit_generator.random_raw(families).view(np.int64)
    size = _table(FAMILY_SIZES, 256, int)[(family_word >> 32) & 0xFF]
    sources = _table(INCOME_SOURCES, 256, int)[(family_word >> 40) & 0xFF]
    extra = (family_word >> 53) & 1
    income_rows = 3 * (sources + extra)
    member_offsets = np.zeros(families + 1, np.int64)
    np.cumsum(size, out=member_offsets[1:])
    income_offsets = np.zeros(families + 1, np.int64)
    np.cumsum(income_rows, out=income_offsets[1:])
    m_total, i_total = int(member_offsets[-1]), int(income_offsets[-1])

    cols = FamilyColumns(
        regions=regions,
        region=np.empty(families, np.int16), application_day=np.empty(families, np.int32),
        extension=np.empty(families, np.bool_), has_expenses=np.empty(families, np.bool_),
        consent=np.empty(families, np.bool_), home_or_car_purchase=np.empty(families, np.bool_),
        non_mortgage_loans=np.empty(families, np.int64), account_spending=np.empty(families, np.int64),
        deposits=np.empty(families, np.int64), ban_until_day=np.empty(families, np.int32),
        contract_terminated_day=np.empty(families, np.int32), false_information=np.empty(families, np.bool_),
        member_family=np.empty(m_total, np.int32), birth_day=np.empty(m_total, np.int32),
        sex=np.empty(m_total, np.int8), relation=np.empty(m_total, np.int8),
        employed=np.empty(m_total, np.bool_), full_time_student=np.empty(m_total, np.bool_),
        disability_group=np.empty(m_total, np.int8), carer=np.empty(m_total, np.bool_),
        income_family=np.empty(i_total, np.int32), income_month=np.empty(i_total, np.int32),
        income_type=np.empty(i_total, np.int8), income_amount=np.empty(i_total, np.int64),
    )
    shared = {
        "region_table": _region_table(regions), "lines": lines, "minimum": minimum, "mci": mci,
        "first_day": day_number(first_day), "quarter_days": quarter_days,
        "assessment_month": month_number(period.previous().first_day),
        "size": size, "sources": sources, "extra": extra, "family_word": family_word,
        "member_offsets": member_offsets, "income_offsets": income_offsets,
        "source_types": _table(SOURCE_TYPES, 256, INCOME_TYPE_CODES.__getitem__).astype(np.int8),
        "extra_types": _table(EXTRA_TYPES, 256, INCOME_TYPE_CODES.__getitem__).astype(np.int8),
    }
    # blocks of families, each with its own random stream: the same seed gives the same
    # population whatever the number of workers
    bounds = list(range(0, families, BLOCK_FAMILIES)) + [families]
    seeds = np.random.SeedSequence(seed).spawn(len(bounds) - 1)
    jobs = [(a, b, np.random.default_rng(s)) for a, b, s in zip(bounds[:-1], bounds[1:], seeds) if b > a]
    if workers > 1 and len(jobs) > 1:
        with ThreadPoolExecutor(min(workers, len(jobs))) as pool:
            list(pool.map(lambda job: _fill(cols, shared, *job), jobs))
    else:
        for job in jobs:
            _fill(cols, shared, *job)
    return cols


_APPLICANT, _SPOUSE, _CHILD, _GRANDPARENT = (RELATION_CODES[r] for r in ("applicant", "spouse", "child", "grandparent"))
_YEARS_8, _YEARS_15, _YEARS_16, _YEARS_22, _YEARS_33, _YEARS_58 = (int(y * _YEAR) for y in (8, 15, 16, 22, 33, 58))


def _random_int32(rng: np.random.Generator, count: int) -> np.ndarray:
    return rng.bit_generator.random_raw((count + 1) // 2).view(np.int32)[:count]


def _fill(cols: FamilyColumns, s: dict, a: int, b: int, rng: np.random.Generator) -> None:
    f = b - a
    word = s["family_word"][a:b]
    size = s["size"][a:b]
    region = s["region_table"][word & 0xFFFF]
    day = (s["first_day"] + (((word >> 16) & 0xFFFF) * s["quarter_days"] >> 16)).astype(np.int32)
    cols.region[a:b] = region
    cols.application_day[a:b] = day
    cols.extension[a:b] = ((word >> 54) & 3) != 0  # a reassessment: mostly extensions
    line = s["lines"][region]

    second = rng.bit_generator.random_raw(f).view(np.int64)
    has_expenses = (second & 3) != 0
    cols.has_expenses[a:b] = has_expenses
    cols.consent[a:b] = has_expenses & (((second >> 2) & 63) != 0)
    cols.home_or_car_purchase[a:b] = has_expenses & (((second >> 8) & 127) == 0)
    loans_limit = s["minimum"][region] * 300 * size  # E2 threshold in tiyn
    has_loans = has_expenses & (((second >> 31) & 7) == 0)
    cols.non_mortgage_loans[a:b] = np.where(has_loans, loans_limit * ((second >> 15) & 0xFFFF) >> 15, 0)
    spending_limit = line * 300 * size  # E3 threshold in tiyn
    cols.account_spending[a:b] = np.where(has_expenses, spending_limit * (200 + ((second >> 34) & 1023)) >> 10, 0)
    deposit_limit = 200 * s["mci"] * 100
    has_deposits = has_expenses & (((second >> 54) & 7) == 0)
    cols.deposits[a:b] = np.where(has_deposits, deposit_limit * ((second >> 44) & 0x3FF) >> 9, 0)
    banned = ((second >> 57) & 63) == 0
    cols.ban_until_day[a:b] = np.where(banned, day + ((second >> 26) & 63).astype(np.int32) - 32, NO_DAY)
    cols.false_information[a:b] = ((second >> 20) & 255) == 0

    # members: applicant first, then spouse, children, sometimes a grandparent last. Everyone
    # starts as a child (0–16, or 15–22 one time in eight); the adults are then written over.
    m0, m1 = int(s["member_offsets"][a]), int(s["member_offsets"][b])
    starts = s["member_offsets"][a:b] - m0
    ends = s["member_offsets"][a + 1:b + 1] - m0
    cols.member_family[m0:m1] = np.repeat(np.arange(a, b, dtype=np.int32), size)
    w = _random_int32(rng, m1 - m0)
    older = (w & 7) == 0
    age_days = (w >> 3) & 0xFFFF
    age_days *= np.where(older, _YEARS_8, _YEARS_16)
    age_days >>= 16
    age_days += older * _YEARS_15
    relation = np.full(m1 - m0, _CHILD, np.int8)
    third = rng.bit_generator.random_raw(f).view(np.int64)
    # about one family in 64 had a contract terminated through its fault 0–255 days before
    # applying: banned for `ban_months` (six) from then
    terminated = ((third >> 45) & 63) == 1
    cols.contract_terminated_day[a:b] = np.where(terminated, day - ((third >> 51) & 255).astype(np.int32), NO_DAY)
    with_spouse = (((word >> 48) & 3) != 0) & (size >= 2)
    with_grandparent = (((word >> 50) & 7) == 0) & (size >= 3)
    spouses, grandparents = starts[with_spouse] + 1, ends[with_grandparent] - 1
    relation[spouses], relation[grandparents], relation[starts] = _SPOUSE, _GRANDPARENT, _APPLICANT
    applicant_age = _YEARS_22 + ((third & 0xFFFF) * _YEARS_33 >> 16)  # 22–55
    age_days[starts] = applicant_age
    age_days[spouses] = (applicant_age + ((third >> 16) & 0xFFF) - 2048)[with_spouse]  # ± 5.6 years
    age_days[grandparents] = (_YEARS_58 + ((third >> 32) & 0x1FFF))[with_grandparent]  # 58–80
    np.subtract(np.repeat(day, size), age_days, out=cols.birth_day[m0:m1])
    cols.sex[m0:m1] = (w >> 19) & 1
    cols.relation[m0:m1] = relation
    adult = relation <= _SPOUSE
    np.logical_and(adult, (w >> 20) & 1, out=cols.employed[m0:m1])
    np.logical_and(older, (w >> 21) & 1, out=cols.full_time_student[m0:m1])
    cols.disability_group[m0:m1] = np.maximum(((w >> 22) & 63) - 60, 0)  # about 1.5% each of 1, 2, 3
    np.logical_and(adult, ((w >> 28) & 7) < 2, out=cols.carer[m0:m1])

    # incomes: series of 3 monthly rows. `sources` series over the assessment quarter (the
    # family's income, 0.45–1.35 × the poverty line per member), sometimes one extra series shifted
    # a month earlier (one row outside the quarter) of a type that often does not count.
    i0, i1 = int(s["income_offsets"][a]), int(s["income_offsets"][b])
    sources = s["sources"][a:b]
    extra = s["extra"][a:b]
    series_family = np.repeat(np.arange(a, b, dtype=np.int32), sources + extra)
    series = len(series_family)
    series_ends = np.cumsum(sources + extra)
    is_extra = np.zeros(series, np.bool_)
    is_extra[series_ends[extra == 1] - 1] = True
    sw = rng.bit_generator.random_raw(series).view(np.int64)
    target = line * 300 * size * (461 + ((word >> 56) & 0xFF) * 922 // 256) >> 10
    per_month = (target // np.maximum(3 * sources, 1)) // 100 * 100  # whole tenge
    amount = np.where(is_extra, (sw & 0xFFFF) * 100, np.repeat(per_month, sources + extra) * (900 + ((sw >> 16) & 0xFF)) >> 10)
    kind = np.where(is_extra, s["extra_types"][(sw >> 24) & 0xFF], s["source_types"][(sw >> 32) & 0xFF])
    start_month = np.int32(s["assessment_month"]) - is_extra.astype(np.int32)
    amount = amount // 100 * 100  # whole tenge, as registries report
    for k in range(3):  # row 3s + k of the block is month k of series s
        rows = slice(i0 + k, i1, 3)
        cols.income_family[rows] = series_family
        cols.income_type[rows] = kind
        cols.income_amount[rows] = amount
        cols.income_month[rows] = start_month + np.int32(k)
