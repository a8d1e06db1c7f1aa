"""The quarterly reassessment: the rules of `rules.py` over whole columns (numpy).

Input is columnar: a family table, a member table and an income table, the last two grouped by
family (non-decreasing family index, as a database extract ordered by family gives them). Money is
int64 tiyn, dates are int32 days since 1970-01-01, months are int32 month indexes (year*12 + m-1),
codes index the vocabularies of `model.py`.

Everything that depends on parameters is resolved once per (region, application date) pair with
the same functions `decide` uses, into small tables; the per-member and per-income work is then a
handful of gathers and comparisons. The result must equal `decide` to the tenge and reason code —
`tests/unit/eligibility/test_bulk.py` checks that on random families.

Ages: a member's age on the first day of month M is at least k years exactly when
`effective_birth_month + 12k <= M`, where the effective birth month is the birth month, or the month
after it when the person was born after the 1st (29 February included: they turn older on 1 March
in common years). That turns the month-based age rules (child supplement 1–6, large-family children
under 18/23) into one table lookup per member.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields
from datetime import date, timedelta
from decimal import Decimal

import numpy as np

from .decision import REASON_BIT, REASON_CODES
from .model import INCOME_TYPES, RELATIONS, Case
from .parameters import MissingParameter, ParameterSet
from .rules import (
    ADULT_AGE,
    CHILD_SUPPLEMENT_MAX_AGE,
    CHILD_SUPPLEMENT_MIN_AGE,
    LARGE_FAMILY_MIN_CHILDREN,
    LARGE_FAMILY_PER_CHILD_HUNDREDTHS_FROM_8,
    LARGE_FAMILY_RATE_HUNDREDTHS,
    STUDENT_CHILD_MAX_AGE,
    _day_policy,
    assessment_quarter,
    assignment_months,
    child_supplement_per_child,
    latest_birth_date_for_age,
    quarter_of,
)

EPOCH = date(1970, 1, 1)
NO_DAY = np.iinfo(np.int32).min  # ban_until absent
MAX_MONTHS = 3
MAX_MEMBERS = 255  # per family: the member counters are packed 8 bits each

SEX_CODES = {"male": 0, "female": 1}
RELATION_CODES = {r: i for i, r in enumerate(RELATIONS)}
INCOME_TYPE_CODES = {t: i for i, t in enumerate(INCOME_TYPES)}
_CHILD = RELATION_CODES["child"]


def day_number(day: date) -> int:
    return (day - EPOCH).days


def month_number(day: date) -> int:
    return day.year * 12 + day.month - 1


def month_first_day(month: int) -> date:
    return date(month // 12, month % 12 + 1, 1)


# ------------------------------------------------------------------------------------------ columns

@dataclass(frozen=True, slots=True)
class FamilyColumns:
    regions: tuple[str, ...]  # dictionary of KATO codes; `region` indexes it
    # families (F)
    region: np.ndarray  # int16
    application_day: np.ndarray  # int32 days since 1970-01-01
    extension: np.ndarray  # bool
    has_expenses: np.ndarray  # bool: bank aggregates present (Case.expenses is not None)
    consent: np.ndarray  # bool
    home_or_car_purchase: np.ndarray  # bool
    non_mortgage_loans: np.ndarray  # int64 tiyn
    account_spending: np.ndarray  # int64 tiyn
    deposits: np.ndarray  # int64 tiyn
    ban_until_day: np.ndarray  # int32 days; NO_DAY when absent
    false_information: np.ndarray  # bool
    # members (M), grouped by family
    member_family: np.ndarray  # int32 family index
    birth_day: np.ndarray  # int32 days since 1970-01-01
    sex: np.ndarray  # int8: 0 male, 1 female
    relation: np.ndarray  # int8 index into RELATIONS
    employed: np.ndarray  # bool
    full_time_student: np.ndarray  # bool
    disability_group: np.ndarray  # int8: 0 none, 1..3
    carer: np.ndarray  # bool
    # incomes (I), grouped by family
    income_family: np.ndarray  # int32 family index
    income_month: np.ndarray  # int32 month index (year*12 + month-1)
    income_type: np.ndarray  # int8 index into INCOME_TYPES
    income_amount: np.ndarray  # int64 tiyn

    @property
    def families(self) -> int:
        return len(self.region)


_FAMILY_FIELDS = ("region", "application_day", "extension", "has_expenses", "consent",
                  "home_or_car_purchase", "non_mortgage_loans", "account_spending", "deposits",
                  "ban_until_day", "false_information")
_MEMBER_FIELDS = ("member_family", "birth_day", "sex", "relation", "employed", "full_time_student",
                  "disability_group", "carer")
_INCOME_FIELDS = ("income_family", "income_month", "income_type", "income_amount")


def cases_to_columns(cases: Sequence[Case]) -> FamilyColumns:
    """Valid cases (see `validate_case`) → columns, family i being cases[i]."""
    regions: dict[str, int] = {}
    fam: dict[str, list] = {name: [] for name in _FAMILY_FIELDS}
    mem: dict[str, list] = {name: [] for name in _MEMBER_FIELDS}
    inc: dict[str, list] = {name: [] for name in _INCOME_FIELDS}
    for index, case in enumerate(cases):
        fam["region"].append(regions.setdefault(case.region_kato, len(regions)))
        fam["application_day"].append(day_number(case.application_date))
        fam["extension"].append(case.extension)
        e = case.expenses
        fam["has_expenses"].append(e is not None)
        fam["consent"].append(e is not None and e.consent)
        fam["home_or_car_purchase"].append(e is not None and e.home_or_car_purchase)
        fam["non_mortgage_loans"].append(int(e.non_mortgage_loans * 100) if e else 0)
        fam["account_spending"].append(int(e.account_spending * 100) if e else 0)
        fam["deposits"].append(int(e.deposits * 100) if e else 0)
        ban = case.history.ban_until
        fam["ban_until_day"].append(day_number(ban) if ban is not None else NO_DAY)
        fam["false_information"].append(case.history.false_information)
        for m in case.members:
            mem["member_family"].append(index)
            mem["birth_day"].append(day_number(m.birth_date))
            mem["sex"].append(SEX_CODES[m.sex])
            mem["relation"].append(RELATION_CODES[m.relation])
            mem["employed"].append(m.employed)
            mem["full_time_student"].append(m.full_time_student)
            mem["disability_group"].append(m.disability_group or 0)
            mem["carer"].append(m.carer)
        for i in case.incomes:
            inc["income_family"].append(index)
            inc["income_month"].append(month_number(i.month))
            inc["income_type"].append(INCOME_TYPE_CODES[i.type])
            inc["income_amount"].append(int(i.amount * 100))
    dtypes = {f.name: None for f in fields(FamilyColumns)}
    dtypes.update(
        region=np.int16, application_day=np.int32, extension=np.bool_, has_expenses=np.bool_,
        consent=np.bool_, home_or_car_purchase=np.bool_, non_mortgage_loans=np.int64,
        account_spending=np.int64, deposits=np.int64, ban_until_day=np.int32, false_information=np.bool_,
        member_family=np.int32, birth_day=np.int32, sex=np.int8, relation=np.int8, employed=np.bool_,
        full_time_student=np.bool_, disability_group=np.int8, carer=np.bool_,
        income_family=np.int32, income_month=np.int32, income_type=np.int8, income_amount=np.int64,
    )
    arrays = {name: np.asarray(values, dtype=dtypes[name]) for part in (fam, mem, inc) for name, values in part.items()}
    return FamilyColumns(regions=tuple(regions), **arrays)


# ------------------------------------------------------------------------------------------ output

@dataclass(frozen=True, slots=True)
class BulkDecisions:
    eligible: np.ndarray  # bool (F,)
    kind: np.ndarray  # int8: 0 unconditional, 1 conditional
    poverty_line: np.ndarray  # int64 whole tenge
    per_capita_income: np.ndarray  # int64 tiyn
    first_month: np.ndarray  # int32 month index of the first month paid
    months: np.ndarray  # int8 number of months in the assignment period (1..3)
    tsa: np.ndarray  # int64 (F, 3) tenge per period month; 0 beyond `months` or when not eligible
    child_supplement: np.ndarray  # int64 (F, 3)
    large_family_allowance: np.ndarray  # int64 (F, 3); 0 in months with fewer than 4 children
    reasons: np.ndarray  # int32 bitmask, bit i ↔ REASON_CODES[i]

    def __len__(self) -> int:
        return len(self.eligible)


def reason_codes_of(mask: int) -> tuple[str, ...]:
    return tuple(code for code in REASON_CODES if int(mask) & REASON_BIT[code])


# ------------------------------------------------------------------------- per (region, day) policy

# Packed per-member counters (8 bits each) summed per family in one pass.
_ABLE_SHIFT = 0
_SUPPLEMENT_SHIFT = (8, 16, 24)
_LARGE_FAMILY_SHIFT = (32, 40, 48)
_REL_MIN, _REL_MAX = -2, 12 * STUDENT_CHILD_MAX_AGE + 2  # months; outside this range nothing counts
_REL_SPAN = _REL_MAX - _REL_MIN + 1


def _member_counter_table() -> np.ndarray:
    """Counter contribution by (is child relation, full-time student, months since effective birth).

    Index: (child * 2 + student) * _REL_SPAN + (rel - _REL_MIN), where rel = M0 - effective birth
    month and M0 is the first month paid; for month j the member's age in months is rel + j.
    """
    table = np.zeros(4 * _REL_SPAN, dtype=np.int64)
    for child in (0, 1):
        for student in (0, 1):
            for rel in range(_REL_MIN, _REL_MAX + 1):
                value = 0
                for j in range(MAX_MONTHS):
                    months = rel + j
                    if 12 * CHILD_SUPPLEMENT_MIN_AGE <= months < 12 * (CHILD_SUPPLEMENT_MAX_AGE + 1):
                        value += 1 << _SUPPLEMENT_SHIFT[j]
                    if child and (months < 12 * ADULT_AGE or (student and months < 12 * STUDENT_CHILD_MAX_AGE)):
                        value += 1 << _LARGE_FAMILY_SHIFT[j]
                table[(child * 2 + student) * _REL_SPAN + rel - _REL_MIN] = value
    return table


_COUNTER_TABLE = _member_counter_table()

_LUT_FIRST = date(1800, 1, 1)
_LUT_LAST = date(2100, 12, 31)


def _effective_birth_month_table() -> np.ndarray:
    days = np.arange(day_number(_LUT_FIRST), day_number(_LUT_LAST) + 1, dtype=np.int64)
    as_days = days.astype("datetime64[D]")
    months = as_days.astype("datetime64[M]")
    month_index = months.astype(np.int64) + 1970 * 12
    day_of_month = (as_days - months.astype("datetime64[D]")).astype(np.int64) + 1
    return (month_index + (day_of_month > 1)).astype(np.int32)


_EFFECTIVE_BIRTH_MONTH = _effective_birth_month_table()
_LUT_BASE = day_number(_LUT_FIRST)

_LARGE_FAMILY_RATE = np.array(
    [0] * LARGE_FAMILY_MIN_CHILDREN + [LARGE_FAMILY_RATE_HUNDREDTHS[c] for c in sorted(LARGE_FAMILY_RATE_HUNDREDTHS)],
    dtype=np.int64,
)  # index = children (< 8); from 8 on: 4 MCI per child


@dataclass(slots=True)
class _Policies:
    """Tables indexed by combo = one (region, application day) pair."""

    poverty_line: np.ndarray  # int64 tenge
    from_median: np.ndarray  # bool
    subsistence_tiyn: np.ndarray  # int64
    counted_types: np.ndarray  # int32 bitmask over INCOME_TYPES
    counted_types_extension: np.ndarray  # int32 bitmask with the disregarded-on-extension types removed
    assessment_first_month: np.ndarray  # int32
    first_month: np.ndarray  # int32
    months: np.ndarray  # int8
    adult_birth_day: np.ndarray  # int32: born on or before → 18 or older on D
    retirement_birth_day: np.ndarray  # int32 (C, 2) by sex: born on or before → retirement age on D
    consent_required: np.ndarray  # int8: 1/0, -1 = missing parameter
    deposit_limit_tiyn: np.ndarray  # int64 floor(limit in tiyn); -1 = missing parameter
    supplement_per_child: np.ndarray  # int64 (C, 3) tenge; -1 = missing parameter
    mci_tiyn: np.ndarray  # int64 (C, 3) MCI on the first day of each month paid; -1 = missing
    missing: dict[tuple[str, int, int], MissingParameter]  # (slot, combo, month) → the error to raise

    @property
    def line_source_bit(self) -> np.ndarray:
        return np.where(self.from_median, REASON_BIT["POVERTY_LINE_FROM_MEDIAN"],
                        REASON_BIT["POVERTY_LINE_FROM_SUBSISTENCE"]).astype(np.int32)

    @property
    def counted_types_by_row(self) -> np.ndarray:
        """Indexed by combo * 2 + extension."""
        return np.stack([self.counted_types, self.counted_types_extension], axis=1).ravel()

    @property
    def assessment_first_month_by_row(self) -> np.ndarray:
        return np.repeat(self.assessment_first_month, 2)


def _type_mask(types) -> int:
    return sum(1 << INCOME_TYPE_CODES[t] for t in set(types))


def _resolve_policies(params: ParameterSet, combos: list[tuple[str, date]]) -> _Policies:
    c = len(combos)
    p = _Policies(
        poverty_line=np.zeros(c, np.int64), from_median=np.zeros(c, np.bool_),
        subsistence_tiyn=np.zeros(c, np.int64), counted_types=np.zeros(c, np.int32),
        counted_types_extension=np.zeros(c, np.int32), assessment_first_month=np.zeros(c, np.int32),
        first_month=np.zeros(c, np.int32), months=np.zeros(c, np.int8),
        adult_birth_day=np.zeros(c, np.int32), retirement_birth_day=np.zeros((c, 2), np.int32),
        consent_required=np.zeros(c, np.int8), deposit_limit_tiyn=np.zeros(c, np.int64),
        supplement_per_child=np.zeros((c, MAX_MONTHS), np.int64), mci_tiyn=np.zeros((c, MAX_MONTHS), np.int64),
        missing={},
    )
    for k, (region, day) in enumerate(combos):
        policy = _day_policy(params, region, day)  # raises MissingParameter, as decide would
        line = policy.line
        p.poverty_line[k] = line.amount
        p.from_median[k] = line.source == "median"
        p.subsistence_tiyn[k] = _exact_tiyn(line.subsistence_minimum, "subsistence_minimum")
        p.counted_types[k] = _type_mask(policy.counted)
        p.counted_types_extension[k] = _type_mask(policy.counted - policy.disregarded_on_extension)
        p.assessment_first_month[k] = month_number(assessment_quarter(day).first_day)
        months = assignment_months(day)
        p.first_month[k] = month_number(months[0])
        p.months[k] = len(months)
        p.adult_birth_day[k] = day_number(latest_birth_date_for_age(day, ADULT_AGE))
        p.retirement_birth_day[k, 0] = day_number(latest_birth_date_for_age(day, policy.retirement_age_male))
        p.retirement_birth_day[k, 1] = day_number(latest_birth_date_for_age(day, policy.retirement_age_female))
        try:
            p.consent_required[k] = 1 if params.get("consent_required", day, region).value else 0
        except MissingParameter as error:
            p.consent_required[k] = -1
            p.missing[("consent", k, 0)] = error
        try:
            limit_mci = params.get("deposit_limit_mci", day, region).value
            mci = params.get("mci", day, region).value
            # deposits (whole tiyn) > limit ⇔ deposits > floor(limit in tiyn)
            p.deposit_limit_tiyn[k] = int((limit_mci * mci * 100).to_integral_value(rounding="ROUND_FLOOR"))
        except MissingParameter as error:
            p.deposit_limit_tiyn[k] = -1
            p.missing[("deposit", k, 0)] = error
        for j in range(MAX_MONTHS):
            if j >= len(months):
                continue
            try:
                mci = params.get("mci", months[j], region).value
                p.mci_tiyn[k, j] = _exact_tiyn(mci, "mci")
            except MissingParameter as error:
                p.mci_tiyn[k, j] = -1
                p.supplement_per_child[k, j] = -1
                p.missing[("mci", k, j)] = p.missing[("supplement", k, j)] = error
                continue
            try:
                share = params.get("child_supplement_mci", day, region).value
                p.supplement_per_child[k, j] = child_supplement_per_child(share, mci)
            except MissingParameter as error:
                p.supplement_per_child[k, j] = -1
                p.missing[("supplement", k, j)] = error
    return p


def _exact_tiyn(amount: Decimal, name: str) -> int:
    value = amount * 100
    if value != value.to_integral_value():
        raise ValueError(f"{name} {amount} has more than 2 decimals")
    return int(value)


# --------------------------------------------------------------------------------------- computing

def decide_columns(columns: FamilyColumns, params: ParameterSet, *, workers: int = 2) -> BulkDecisions:
    """Decide every family of `columns`. Raises MissingParameter like `decide` would for any family.

    The families are split into `workers` chunks of about equal member counts, decided on threads
    (numpy releases the GIL in its loops).
    """
    f_count = columns.families
    if _unsorted(columns.member_family) or _unsorted(columns.income_family):
        columns = _sorted_by_family(columns)
    combo_of_family, combos = _combos(columns)
    policies = _resolve_policies(params, combos)
    # one row per (combo, extension): which income types count differs on extensions
    policy_row = combo_of_family * 2 + columns.extension

    out = BulkDecisions(
        eligible=np.empty(f_count, np.bool_), kind=np.empty(f_count, np.int8),
        poverty_line=np.empty(f_count, np.int64), per_capita_income=np.empty(f_count, np.int64),
        first_month=np.empty(f_count, np.int32), months=np.empty(f_count, np.int8),
        tsa=np.empty((f_count, MAX_MONTHS), np.int64), child_supplement=np.empty((f_count, MAX_MONTHS), np.int64),
        large_family_allowance=np.empty((f_count, MAX_MONTHS), np.int64), reasons=np.empty(f_count, np.int32),
    )
    chunks = _chunks(columns, max(1, workers))

    def run(chunk: tuple[int, int, int, int, int, int]) -> MissingParameter | None:
        return _decide_chunk(columns, policies, combo_of_family, policy_row, chunk, out)

    if len(chunks) > 1:
        with ThreadPoolExecutor(len(chunks)) as pool:
            errors = list(pool.map(run, chunks))
    else:
        errors = [run(c) for c in chunks]
    for error in errors:
        if error is not None:
            raise error
    return out


def _unsorted(family: np.ndarray) -> bool:
    return len(family) > 1 and bool(np.any(family[1:] < family[:-1]))


def _chunks(columns: FamilyColumns, workers: int) -> list[tuple[int, int, int, int, int, int]]:
    """(first family, end family, member start, member end, income start, income end) per chunk."""
    f_count, members = columns.families, len(columns.member_family)
    bounds = [0]
    for k in range(1, workers):
        cut = int(columns.member_family[members * k // workers]) if members else f_count * k // workers
        if bounds[-1] < cut < f_count:
            bounds.append(cut)
    bounds.append(f_count)
    m_cut = np.searchsorted(columns.member_family, bounds).tolist()
    i_cut = np.searchsorted(columns.income_family, bounds).tolist()
    return [(bounds[k], bounds[k + 1], m_cut[k], m_cut[k + 1], i_cut[k], i_cut[k + 1])
            for k in range(len(bounds) - 1) if bounds[k + 1] > bounds[k]]


def _sorted_by_family(columns: FamilyColumns) -> FamilyColumns:
    m_order = np.argsort(columns.member_family, kind="stable")
    i_order = np.argsort(columns.income_family, kind="stable")
    values = {f.name: getattr(columns, f.name) for f in fields(FamilyColumns)}
    values.update({name: getattr(columns, name)[m_order] for name in _MEMBER_FIELDS})
    values.update({name: getattr(columns, name)[i_order] for name in _INCOME_FIELDS})
    return FamilyColumns(**values)


def _combos(columns: FamilyColumns) -> tuple[np.ndarray, list[tuple[str, date]]]:
    """Each family's (region, application day) pair as an index into the list of distinct pairs."""
    days = columns.application_day
    if not len(days):
        return np.zeros(0, np.int32), []
    first, last = int(days.min()), int(days.max())
    span = last - first + 1
    key = columns.region.astype(np.int64) * span + (days - first)
    present = np.zeros(len(columns.regions) * span, np.bool_)
    present[key] = True
    keys = np.flatnonzero(present)
    lookup = np.full(len(present), -1, np.int32)
    lookup[keys] = np.arange(len(keys), dtype=np.int32)
    combos = [(columns.regions[int(k) // span], EPOCH + timedelta(days=first + int(k) % span)) for k in keys]
    return lookup[key], combos


def _segment_sums(values: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Sums of consecutive segments values[offsets[i]:offsets[i+1]] (empty segments give 0)."""
    running = np.empty(len(values) + 1, np.int64)
    running[0] = 0
    np.cumsum(values, out=running[1:])
    return running[offsets[1:]] - running[offsets[:-1]]


def _counts_and_offsets(family: np.ndarray, a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
    counts = np.bincount(family, minlength=b)[a:]
    offsets = np.zeros(b - a + 1, np.int64)
    np.cumsum(counts, out=offsets[1:])
    return counts, offsets


def _decide_chunk(cols: FamilyColumns, p: _Policies, combo_all: np.ndarray, policy_row: np.ndarray,
                  chunk: tuple[int, int, int, int, int, int], out: BulkDecisions) -> MissingParameter | None:
    a, b, m0, m1, i0, i1 = chunk
    combo = combo_all[a:b]

    # ---- members: able-bodied on D, and month-based age counters for each month paid
    fam = cols.member_family[m0:m1]  # global family indexes
    n, m_off = _counts_and_offsets(fam, a, b)
    if n.min() < 1 or n.max() > MAX_MEMBERS:
        raise ValueError(f"every family needs 1 to {MAX_MEMBERS} members")
    member_combo = combo_all[fam]
    birth = cols.birth_day[m0:m1]
    rel = p.first_month[member_combo]
    rel -= _EFFECTIVE_BIRTH_MONTH[birth - _LUT_BASE]
    np.clip(rel, _REL_MIN, _REL_MAX, out=rel)
    rel -= _REL_MIN
    student = cols.full_time_student[m0:m1]
    row = (cols.relation[m0:m1] == _CHILD).view(np.int8) * np.int8(2)
    row += student.view(np.int8)
    rel += row.astype(np.int32) * np.int32(_REL_SPAN)
    counters = _COUNTER_TABLE[rel]
    group = cols.disability_group[m0:m1]
    able = (group - np.int8(1)).view(np.uint8) >= 2  # not group 1 or 2
    able &= ~student
    able &= ~cols.carer[m0:m1]
    able &= birth <= p.adult_birth_day[member_combo]
    able &= birth > p.retirement_birth_day.ravel()[member_combo * 2 + cols.sex[m0:m1]]
    counters += able
    packed = np.add.reduceat(counters, m_off[:-1])
    able_count = packed & 0xFF

    # ---- incomes: counted types received in the assessment quarter
    ifam = cols.income_family[i0:i1]
    _, i_off = _counts_and_offsets(ifam, a, b)
    income_row = policy_row[ifam]
    counted = (cols.income_month[i0:i1] - p.assessment_first_month_by_row[income_row]).view(np.uint32) < 3
    counted &= ((p.counted_types_by_row[income_row] >> cols.income_type[i0:i1]) & 1).astype(np.bool_)
    total = _segment_sums(cols.income_amount[i0:i1] * counted, i_off)

    # ---- families
    line = p.poverty_line[combo]
    per_capita = (2 * total + 3 * n) // (6 * n)
    below = per_capita < line * 100
    day = cols.application_day[a:b]
    banned = cols.ban_until_day[a:b] >= day
    false_information = cols.false_information[a:b]
    has_expenses = cols.has_expenses[a:b]
    consent = cols.consent[a:b]
    refused = has_expenses & ~consent
    consent_required = p.consent_required[combo]
    no_consent = refused & (consent_required == 1)
    checked = has_expenses & consent
    purchase = checked & cols.home_or_car_purchase[a:b]
    loans = checked & (cols.non_mortgage_loans[a:b] > p.subsistence_tiyn[combo] * 3 * n)
    spending = checked & (cols.account_spending[a:b] > line * 300 * n)
    deposit_limit = p.deposit_limit_tiyn[combo]
    deposits = checked & (cols.deposits[a:b] > deposit_limit) & (deposit_limit >= 0)
    eligible = below & ~(banned | false_information | no_consent | purchase | loans | spending | deposits)

    months = p.months[combo]
    tsa = ((line * 100 - per_capita) * n + 50) // 100
    supplement_children = np.zeros(b - a, np.bool_)
    large_family = np.zeros(b - a, np.bool_)
    # (slot, month) → families that need a parameter value that is missing for their combo
    missing = {("consent", 0): refused & (consent_required < 0), ("deposit", 0): checked & (deposit_limit < 0)}
    for j in range(MAX_MONTHS):
        paid = months > j
        children = (packed >> _SUPPLEMENT_SHIFT[j]) & 0xFF
        per_child = p.supplement_per_child[:, j][combo]
        with_children = eligible & paid & (children > 0)
        missing[("supplement", j)] = with_children & (per_child < 0)
        out.tsa[a:b, j] = np.where(eligible & paid, tsa, 0)
        out.child_supplement[a:b, j] = np.where(with_children, children * per_child, 0)
        supplement_children |= with_children
        lf_children = (packed >> _LARGE_FAMILY_SHIFT[j]) & 0xFF
        mci = p.mci_tiyn[:, j][combo]
        qualifies = paid & (lf_children >= LARGE_FAMILY_MIN_CHILDREN)
        missing[("mci", j)] = qualifies & (mci < 0)
        rate = np.where(lf_children < len(_LARGE_FAMILY_RATE),
                        _LARGE_FAMILY_RATE[np.minimum(lf_children, len(_LARGE_FAMILY_RATE) - 1)],
                        LARGE_FAMILY_PER_CHILD_HUNDREDTHS_FROM_8 * lf_children)
        out.large_family_allowance[a:b, j] = np.where(qualifies, (2 * rate * mci + 10000) // 20000, 0)
        large_family |= qualifies
    for (slot, j), flags in missing.items():
        if flags.any():
            return p.missing[(slot, int(combo[int(np.argmax(flags))]), j)]

    bit = REASON_BIT
    reasons = np.where(below, bit["INCOME_BELOW_POVERTY_LINE"], bit["INCOME_NOT_BELOW_POVERTY_LINE"]).astype(np.int32)
    reasons |= p.line_source_bit[combo]
    reasons |= np.where(able_count > 0, bit["CONDITIONAL_ABLE_BODIED"], bit["UNCONDITIONAL_NO_ABLE_BODIED"]).astype(np.int32)
    for code, flags in (("CHILD_SUPPLEMENT", supplement_children), ("BAN_ACTIVE", banned),
                        ("FALSE_INFORMATION", false_information), ("EXPENSE_PURCHASE", purchase),
                        ("EXPENSE_LOANS", loans), ("EXPENSE_SPENDING", spending),
                        ("EXPENSE_DEPOSITS", deposits), ("CONSENT_NOT_GIVEN", no_consent),
                        ("LARGE_FAMILY_ALLOWANCE", large_family)):
        reasons |= flags.view(np.int8).astype(np.int32) * np.int32(bit[code])

    out.eligible[a:b] = eligible
    out.kind[a:b] = able_count > 0
    out.poverty_line[a:b] = line
    out.per_capita_income[a:b] = per_capita
    out.first_month[a:b] = p.first_month[combo]
    out.months[a:b] = months
    out.reasons[a:b] = reasons
    return None


__all__ = [
    "FamilyColumns", "BulkDecisions", "cases_to_columns", "decide_columns", "reason_codes_of",
    "day_number", "month_number", "month_first_day", "NO_DAY", "MAX_MONTHS",
    "SEX_CODES", "RELATION_CODES", "INCOME_TYPE_CODES",
]
