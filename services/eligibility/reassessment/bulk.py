"""The quarterly reassessment: the rules of `domain/rules.py` over whole columns (numpy).

Input is columnar: a family table, a member table and an income table, the last two grouped by
family (non-decreasing family index, as a database extract ordered by family gives them). Money is
int64 tiyn, dates are int32 days since 1970-01-01, months are int32 month indexes (year*12 + m-1),
codes index the vocabularies of `domain/model.py`.

Everything that depends on parameters is resolved once per (region, application date) pair with
the same functions `decide` uses, into small tables; the per-member and per-income work is then a
handful of gathers and comparisons. The result must equal `decide` to the tenge and reason code —
`tests/unit/eligibility/test_bulk.py` checks that on random families.

Ages: a member's age on the first day of month M is at least k years exactly when
`effective_birth_month + 12k <= M`, where the effective birth month is the birth month, or the month
after it when the person was born after the 1st (29 February included: they turn older on 1 March
in common years). That turns the month-based age rules (child supplement 1–6, large-family children
under 18/23; the ages are parameters) into one table lookup per member.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields
from datetime import date, timedelta
from decimal import Decimal

import numpy as np

from services.eligibility.domain.decision import REASON_BIT, REASON_CODES
from services.eligibility.domain.model import INCOME_TYPES, RELATIONS, Case
from services.eligibility.domain.parameters import MissingParameter, ParameterSet
from services.eligibility.domain.rules import (
    LARGE_FAMILY_MIN_CHILDREN,
    LARGE_FAMILY_PER_CHILD_PARAMETER,
    LARGE_FAMILY_RATE_PARAMETERS,
    AgeLimits,
    assignment_months,
    ban_after_termination,
    child_supplement_per_child,
    day_policy,
    large_family_allowance,
    large_family_rate_mci,
    large_family_rate_parameter,
    latest_birth_date_for_age,
)
from shared.calendar import assessment_quarter

EPOCH = date(1970, 1, 1)
NO_DAY = np.iinfo(np.int32).min  # a date that is absent (ban_until, contract_terminated)
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
    contract_terminated_day: np.ndarray  # int32 days; NO_DAY when absent
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
                  "ban_until_day", "contract_terminated_day", "false_information")
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
        terminated = case.history.contract_terminated_on
        fam["contract_terminated_day"].append(day_number(terminated) if terminated is not None else NO_DAY)
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
        account_spending=np.int64, deposits=np.int64, ban_until_day=np.int32, contract_terminated_day=np.int32,
        false_information=np.bool_,
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
    # (3, F): row j is each family's j-th month paid; 0 beyond `months`
    tsa: np.ndarray  # int64 tenge; 0 when not eligible
    child_supplement: np.ndarray  # int64 tenge; 0 when not eligible
    large_family_allowance: np.ndarray  # int64 tenge; 0 in months with fewer than 4 children
    reasons: np.ndarray  # int32 bitmask, bit i ↔ REASON_CODES[i]

    def __len__(self) -> int:
        return len(self.eligible)


def reason_codes_of(mask: int) -> tuple[str, ...]:
    return tuple(code for code in REASON_CODES if int(mask) & REASON_BIT[code])


# ------------------------------------------------------------------------- per (region, day) policy

# Packed per-member counters (8 bits each) summed per family in one pass.
# byte 0: able-bodied members (added per member, not from the table)
_SUPPLEMENT_SHIFT = (8, 16, 24)
_LARGE_FAMILY_SHIFT = (32, 40, 48)
_REL_MIN = -2  # months; below it (and above the oldest age that counts) nothing counts


def _counted_ages(ages: AgeLimits) -> tuple[int, int, int, int]:
    """The ages the member counters depend on (two policies with equal ones share a table)."""
    return ages.supplement_min, ages.supplement_max, ages.adult, ages.student_child_limit


def _rel_max(counted: list[tuple[int, int, int, int]]) -> int:
    """Months since effective birth beyond which no counter counts, for any of these age rules."""
    return 12 * max(max(s_max + 1, adult, student) for _, s_max, adult, student in counted) + 2


def _member_counter_table(ages: tuple[int, int, int, int], rel_max: int) -> np.ndarray:
    """Counter contribution by (is child relation, full-time student, months since effective birth).

    Index: (child * 2 + student) * span + (rel - _REL_MIN), where span = rel_max - _REL_MIN + 1,
    rel = M0 - effective birth month and M0 is the first month paid; for month j the member's age
    in months is rel + j.
    """
    supplement_min, supplement_max, adult, student_limit = ages
    span = rel_max - _REL_MIN + 1
    table = np.zeros(4 * span, dtype=np.int64)
    for child in (0, 1):
        for student in (0, 1):
            for rel in range(_REL_MIN, rel_max + 1):
                value = 0
                for j in range(MAX_MONTHS):
                    months = rel + j
                    if 12 * supplement_min <= months < 12 * (supplement_max + 1):
                        value += 1 << _SUPPLEMENT_SHIFT[j]
                    if child and (months < 12 * adult or (student and months < 12 * student_limit)):
                        value += 1 << _LARGE_FAMILY_SHIFT[j]
                table[(child * 2 + student) * span + rel - _REL_MIN] = value
    return table

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

_COUNT_SLOTS = MAX_MEMBERS + 1  # amount tables: one row per distinct rate, one column per count


@dataclass(frozen=True, slots=True)
class _ComboPolicy:
    """What one (region, application day) pair means for every family that shares it."""

    poverty_line: int
    line_source_bit: int
    subsistence_tiyn: int
    counted_types: int  # bitmask over INCOME_TYPES
    counted_types_extension: int  # without the types disregarded on extension
    assessment_first_month: int
    first_month: int
    months: int
    ages: AgeLimits
    adult_birth_day: int  # born on or before → adult on D
    retirement_birth_day: tuple[int, int]  # by sex: born on or before → retirement age on D
    consent_required: int  # 1, 0; -1 = parameter missing
    deposit_limit_tiyn: int  # floor of the limit in tiyn; -1 = parameter missing
    supplement_per_child: tuple[int, ...]  # per month paid; -1 = parameter missing
    mci: tuple[Decimal | None, ...]  # per month paid, for the large-family allowance; None = missing
    # large-family rate parameter → its value on D; None = missing
    large_family_rates: tuple[tuple[str, Decimal | None], ...]
    # (slot, month or parameter) → the error decide would raise
    missing: dict[tuple[str, int | str], MissingParameter]


def _type_mask(types) -> int:
    return sum(1 << INCOME_TYPE_CODES[t] for t in set(types))


def _combo_policy(params: ParameterSet, region: str, day: date) -> _ComboPolicy:
    policy = day_policy(params, region, day)  # raises MissingParameter, as decide would
    line = policy.line
    ages = policy.ages
    missing: dict[tuple[str, int | str], MissingParameter] = {}
    if isinstance(policy.disregarded_on_extension, MissingParameter):
        missing[("extension", 0)] = policy.disregarded_on_extension
        disregarded: frozenset[str] = frozenset()
    else:
        disregarded = frozenset(policy.disregarded_on_extension.value)
    try:
        consent_required = 1 if params.get("consent_required", day, region).value else 0
    except MissingParameter as error:
        consent_required, missing[("consent", 0)] = -1, error
    try:
        limit = params.get("deposit_limit_mci", day, region).value * params.get("mci", day, region).value
        # deposits (whole tiyn) > limit  ⇔  deposits > floor(limit in tiyn)
        deposit_limit_tiyn = int((limit * 100).to_integral_value(rounding="ROUND_FLOOR"))
    except MissingParameter as error:
        deposit_limit_tiyn, missing[("deposit", 0)] = -1, error
    months = assignment_months(day)
    per_child: list[int] = []
    mcis: list[Decimal | None] = []
    for j, first_day in enumerate(months):
        try:
            mci = params.get("mci", first_day, region).value
        except MissingParameter as error:
            mcis.append(None)
            per_child.append(-1)
            missing[("mci", j)] = missing[("supplement", j)] = error
            continue
        mcis.append(mci)
        try:
            per_child.append(child_supplement_per_child(params.get("child_supplement_mci", day, region).value, mci))
        except MissingParameter as error:
            per_child.append(-1)
            missing[("supplement", j)] = error
    rates: list[tuple[str, Decimal | None]] = []
    for name in (*LARGE_FAMILY_RATE_PARAMETERS.values(), LARGE_FAMILY_PER_CHILD_PARAMETER):
        try:
            rates.append((name, params.get(name, day, region).value))
        except MissingParameter as error:
            rates.append((name, None))
            missing[("rate", name)] = error
    return _ComboPolicy(
        poverty_line=line.amount,
        line_source_bit=REASON_BIT["POVERTY_LINE_FROM_MEDIAN" if line.source == "median" else "POVERTY_LINE_FROM_SUBSISTENCE"],
        subsistence_tiyn=_exact_tiyn(line.subsistence_minimum, "subsistence_minimum"),
        counted_types=_type_mask(policy.counted),
        counted_types_extension=_type_mask(policy.counted - disregarded),
        assessment_first_month=month_number(assessment_quarter(day).first_day),
        first_month=month_number(months[0]),
        months=len(months),
        ages=ages,
        adult_birth_day=day_number(latest_birth_date_for_age(day, ages.adult)),
        retirement_birth_day=(day_number(latest_birth_date_for_age(day, ages.retirement_male)),
                              day_number(latest_birth_date_for_age(day, ages.retirement_female))),
        consent_required=consent_required,
        deposit_limit_tiyn=deposit_limit_tiyn,
        supplement_per_child=tuple(per_child),
        mci=tuple(mcis),
        large_family_rates=tuple(rates),
        missing=missing,
    )


def _large_family_amounts(mci: Decimal | None, rates: dict[str, Decimal | None]) -> np.ndarray:
    """The month's allowance by number of children: 0 below 4, -1 where a value it needs is missing."""
    amounts = np.zeros(_COUNT_SLOTS, np.int64)
    for children in range(LARGE_FAMILY_MIN_CHILDREN, _COUNT_SLOTS):
        rate = rates[large_family_rate_parameter(children)]
        amounts[children] = -1 if mci is None or rate is None else large_family_allowance(
            large_family_rate_mci(children, rate), mci)
    return amounts


@dataclass(frozen=True, slots=True)
class _Policies:
    """The combo policies as arrays: per combo (C), per combo and extension (2C), per month (3, C).

    Amounts that depend on a count of children are tables: row r, column c is the amount for c
    children; `*_row[j, k]` is the offset of combo k's row for its j-th month paid (row 0 = zeros
    for months not paid; -1 where a needed parameter is missing).

    The member counters depend on the age parameters: one counter table per distinct set of
    ages, `counter_offset[k]` the start of combo k's (None when every combo shares one).
    """

    combos: list[_ComboPolicy]
    poverty_line: np.ndarray  # int64
    line_source_bit: np.ndarray  # int32
    subsistence_tiyn: np.ndarray  # int64
    first_month: np.ndarray  # int32
    months: np.ndarray  # int8
    adult_birth_day: np.ndarray  # int32
    retirement_birth_day: np.ndarray  # int32 (2C,): index combo * 2 + sex
    consent_required: np.ndarray  # int8
    deposit_limit_tiyn: np.ndarray  # int64
    counted_types: np.ndarray  # int32 (2C,): index combo * 2 + extension
    assessment_first_month: np.ndarray  # int32 (2C,)
    supplement_row: np.ndarray  # int32 (3, C)
    supplement_table: np.ndarray  # int64 flat rows of _COUNT_SLOTS
    large_family_row: np.ndarray  # int32 (3, C)
    large_family_table: np.ndarray  # int64 flat rows of _COUNT_SLOTS
    counter_table: np.ndarray  # int64 flat tables of 4 * rel_span
    counter_offset: np.ndarray | None  # int32 (C,)
    rel_max: int
    rel_span: int
    has_missing: bool  # some optional value is missing for some combo: check the families needing it
    extension_missing: np.ndarray  # bool: the disregarded-on-extension list is missing


def _resolve_policies(params: ParameterSet, combos: list[tuple[str, date]]) -> _Policies:
    policies = [params.derived(("bulk_combo", region, day), lambda r=region, d=day: _combo_policy(params, r, d))
                for region, day in combos]

    def column(values, dtype) -> np.ndarray:
        return np.array(list(values), dtype=dtype)

    counts = np.arange(_COUNT_SLOTS, dtype=np.int64)
    missing_supplement = np.where(counts >= 1, -1, 0)
    supplement_rows: dict[int, int] = {}
    supplement_table = [np.zeros(_COUNT_SLOTS, np.int64), missing_supplement]
    large_family_rows: dict[tuple, int] = {}
    large_family_table = [np.zeros(_COUNT_SLOTS, np.int64)]
    supplement_row = np.zeros((MAX_MONTHS, len(policies)), np.int32)
    large_family_row = np.zeros((MAX_MONTHS, len(policies)), np.int32)
    for k, policy in enumerate(policies):
        for j in range(policy.months):
            per_child = policy.supplement_per_child[j]
            if per_child < 0:
                row = 1
            else:
                row = supplement_rows.get(per_child)
                if row is None:
                    row = supplement_rows[per_child] = len(supplement_table)
                    supplement_table.append(counts * per_child)
            supplement_row[j, k] = row * _COUNT_SLOTS
            key = (policy.mci[j], policy.large_family_rates)
            row = large_family_rows.get(key)
            if row is None:
                row = large_family_rows[key] = len(large_family_table)
                large_family_table.append(_large_family_amounts(policy.mci[j], dict(policy.large_family_rates)))
            large_family_row[j, k] = row * _COUNT_SLOTS
    counted_ages = list(dict.fromkeys(_counted_ages(policy.ages) for policy in policies))
    rel_max = _rel_max(counted_ages) if counted_ages else _REL_MIN
    rel_span = rel_max - _REL_MIN + 1
    counter_tables = [_member_counter_table(ages, rel_max) for ages in counted_ages]
    table_of = {ages: i * 4 * rel_span for i, ages in enumerate(counted_ages)}
    return _Policies(
        combos=policies,
        poverty_line=column((p.poverty_line for p in policies), np.int64),
        line_source_bit=column((p.line_source_bit for p in policies), np.int32),
        subsistence_tiyn=column((p.subsistence_tiyn for p in policies), np.int64),
        first_month=column((p.first_month for p in policies), np.int32),
        months=column((p.months for p in policies), np.int8),
        adult_birth_day=column((p.adult_birth_day for p in policies), np.int32),
        retirement_birth_day=column((d for p in policies for d in p.retirement_birth_day), np.int32),
        consent_required=column((p.consent_required for p in policies), np.int8),
        deposit_limit_tiyn=column((p.deposit_limit_tiyn for p in policies), np.int64),
        counted_types=column((t for p in policies for t in (p.counted_types, p.counted_types_extension)), np.int32),
        assessment_first_month=column((p.assessment_first_month for p in policies for _ in (0, 1)), np.int32),
        supplement_row=supplement_row,
        supplement_table=np.concatenate(supplement_table),
        large_family_row=large_family_row,
        large_family_table=np.concatenate(large_family_table),
        counter_table=np.concatenate(counter_tables) if counter_tables else np.zeros(4 * rel_span, np.int64),
        counter_offset=column((table_of[_counted_ages(p.ages)] for p in policies), np.int32)
        if len(counted_ages) > 1 else None,
        rel_max=rel_max,
        rel_span=rel_span,
        has_missing=any(p.missing for p in policies),
        extension_missing=column((("extension", 0) in p.missing for p in policies), np.bool_),
    )


def _exact_tiyn(amount: Decimal, name: str) -> int:
    value = amount * 100
    if value != value.to_integral_value():
        raise ValueError(f"{name} {amount} has more than 2 decimals")
    return int(value)


# --------------------------------------------------------------------------------------- computing

def decide_columns(columns: FamilyColumns, params: ParameterSet, *, workers: int = 2) -> BulkDecisions:
    """Decide every family of `columns`. Raises MissingParameter like `decide` would for any family.

    The families are decided in blocks of BLOCK_FAMILIES (so temporaries stay in cache) on
    `workers` threads (numpy releases the GIL in its loops).
    """
    f_count = columns.families
    if _unsorted(columns.member_family) or _unsorted(columns.income_family):
        columns = _sorted_by_family(columns)
    combo_of_family, combos = _combos(columns)
    policies = _resolve_policies(params, combos)
    ban_until_day, ban_missing = _ban_until_days(columns, params)
    # one row per (combo, extension): which income types count differs on extensions
    policy_row = combo_of_family * 2 + columns.extension

    out = BulkDecisions(
        eligible=np.empty(f_count, np.bool_), kind=np.empty(f_count, np.int8),
        poverty_line=np.empty(f_count, np.int64), per_capita_income=np.empty(f_count, np.int64),
        first_month=np.empty(f_count, np.int32), months=np.empty(f_count, np.int8),
        tsa=np.empty((MAX_MONTHS, f_count), np.int64), child_supplement=np.empty((MAX_MONTHS, f_count), np.int64),
        large_family_allowance=np.empty((MAX_MONTHS, f_count), np.int64), reasons=np.empty(f_count, np.int32),
    )
    chunks = _chunks(columns)

    def run(chunk: tuple[int, int, int, int, int, int]) -> MissingParameter | None:
        return _decide_chunk(columns, policies, combo_of_family, policy_row, ban_until_day, ban_missing, chunk, out)

    if workers > 1 and len(chunks) > 1:
        with ThreadPoolExecutor(min(workers, len(chunks))) as pool:
            errors = list(pool.map(run, chunks))
    else:
        errors = [run(c) for c in chunks]
    for error in errors:
        if error is not None:
            raise error.again()
    return out


def _ban_until_days(columns: FamilyColumns, params: ParameterSet
                    ) -> tuple[np.ndarray, dict[int, MissingParameter]]:
    """Each family's last day of ban: the later of `ban_until` and, after a contract terminated
    through the recipient's fault, the termination day + `ban_months` valid on that day (NO_DAY
    for none). Families whose `ban_months` is missing are returned with the error `decide` raises."""
    terminated = columns.contract_terminated_day
    families = np.flatnonzero(terminated != NO_DAY)
    if not len(families):
        return columns.ban_until_day, {}
    ban_until = columns.ban_until_day.copy()
    missing: dict[int, MissingParameter] = {}
    for f in families.tolist():
        region, day = columns.regions[int(columns.region[f])], EPOCH + timedelta(days=int(terminated[f]))
        try:
            months = params.derived(("ban_months", region, day),
                                    lambda r=region, d=day: int(params.get("ban_months", d, r).value))
        except MissingParameter as error:
            missing[f] = error
            continue
        ban_until[f] = max(int(ban_until[f]), day_number(ban_after_termination(day, months)))
    return ban_until, missing


def _unsorted(family: np.ndarray) -> bool:
    return len(family) > 1 and bool(np.any(family[1:] < family[:-1]))


BLOCK_FAMILIES = 16384  # families per block: every temporary stays small and in cache


def _chunks(columns: FamilyColumns, block: int | None = None) -> list[tuple[int, int, int, int, int, int]]:
    """(first family, end family, member start, member end, income start, income end) per block."""
    bounds = list(range(0, columns.families, block or BLOCK_FAMILIES)) + [columns.families]
    needles = np.array(bounds, dtype=np.int32)  # same dtype as the columns: no conversion of them
    m_cut = np.searchsorted(columns.member_family, needles).tolist()
    i_cut = np.searchsorted(columns.income_family, needles).tolist()
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
    return np.take(running, offsets[1:]) - np.take(running, offsets[:-1])


def _offsets(family: np.ndarray, a: int, b: int) -> np.ndarray:
    """Start of each family a..b-1 in `family` (sorted), plus the end."""
    offsets = np.zeros(b - a + 1, np.int64)
    np.cumsum(np.bincount(family - np.int32(a), minlength=b - a), out=offsets[1:])
    return offsets


# months not paid are masked out of the packed counters: byte 1+j and 4+j for j >= months
_PAID_COUNTERS = np.array([  # by number of months paid
    0,
    0x00_00_00_FF_00_00_FF_FF,  # able, month 0
    0x00_00_FF_FF_00_FF_FF_FF,  # able, months 0–1
    0x00_FF_FF_FF_FF_FF_FF_FF,  # able, months 0–2
], np.int64)
_SUPPLEMENT_BYTES = 0x00_00_00_00_FF_FF_FF_00
_LARGE_FAMILY_BYTES_4_OR_MORE = 0x00_FC_FC_FC_00_00_00_00  # a byte >= 4 has a bit above the lowest two


def _decide_chunk(cols: FamilyColumns, p: _Policies, combo_all: np.ndarray, policy_row: np.ndarray,
                  ban_until_day: np.ndarray, ban_missing: dict[int, MissingParameter],
                  chunk: tuple[int, int, int, int, int, int], out: BulkDecisions) -> MissingParameter | None:
    a, b, m0, m1, i0, i1 = chunk
    take = np.take
    combo = combo_all[a:b]

    # ---- members: able-bodied on D, and month-based age counters for each month paid
    fam = cols.member_family[m0:m1]  # global family indexes
    m_off = _offsets(fam, a, b)
    n = np.diff(m_off)
    if n.min() < 1 or n.max() > MAX_MEMBERS:
        raise ValueError(f"every family needs 1 to {MAX_MEMBERS} members")
    member_combo = take(combo_all, fam)
    birth = cols.birth_day[m0:m1]
    rel = take(p.first_month, member_combo)
    rel -= take(_EFFECTIVE_BIRTH_MONTH, birth - np.int32(_LUT_BASE))
    np.clip(rel, _REL_MIN, p.rel_max, out=rel)
    rel -= _REL_MIN
    student = cols.full_time_student[m0:m1]
    row = (cols.relation[m0:m1] == _CHILD).view(np.int8) * np.int8(2)
    row += student.view(np.int8)
    rel += row.astype(np.int32) * np.int32(p.rel_span)
    if p.counter_offset is not None:
        rel += take(p.counter_offset, member_combo)
    counters = take(p.counter_table, rel)
    group = cols.disability_group[m0:m1]
    able = (group - np.int8(1)).view(np.uint8) >= 2  # not group 1 or 2
    able &= ~student
    able &= ~cols.carer[m0:m1]
    able &= birth <= take(p.adult_birth_day, member_combo)
    member_combo *= 2
    member_combo += cols.sex[m0:m1]
    able &= birth > take(p.retirement_birth_day, member_combo)
    counters += able
    months = take(p.months, combo)
    packed = _segment_sums(counters, m_off) & take(_PAID_COUNTERS, months)
    counter_bytes = packed.view(np.uint8).reshape(-1, 8)  # [able, children 1–6 ×3, large-family ×3, 0]
    able_count = counter_bytes[:, 0]

    # ---- incomes: counted types received in the assessment quarter
    ifam = cols.income_family[i0:i1]
    income_row = take(policy_row, ifam)
    counted = (cols.income_month[i0:i1] - take(p.assessment_first_month, income_row)).view(np.uint32) < 3
    counted &= ((take(p.counted_types, income_row) >> cols.income_type[i0:i1]) & 1).astype(np.bool_)
    total = _segment_sums(cols.income_amount[i0:i1] * counted, _offsets(ifam, a, b))

    # ---- families
    line = take(p.poverty_line, combo)
    per_capita = (2 * total + 3 * n) // (6 * n)
    below = per_capita < line * 100
    banned = ban_until_day[a:b] >= cols.application_day[a:b]
    false_information = cols.false_information[a:b]
    has_expenses = cols.has_expenses[a:b]
    consent = cols.consent[a:b]
    refused = has_expenses & ~consent
    consent_required = take(p.consent_required, combo)
    no_consent = refused & (consent_required == 1)
    checked = has_expenses & consent
    purchase = checked & cols.home_or_car_purchase[a:b]
    loans = checked & (cols.non_mortgage_loans[a:b] > take(p.subsistence_tiyn, combo) * 3 * n)
    spending = checked & (cols.account_spending[a:b] > line * 300 * n)
    deposit_limit = take(p.deposit_limit_tiyn, combo)
    deposits = checked & (cols.deposits[a:b] > deposit_limit) & (deposit_limit >= 0)
    eligible = below & ~(banned | false_information | no_consent | purchase | loans | spending | deposits)
    if p.has_missing:
        extension_missing = cols.extension[a:b] & take(p.extension_missing, combo)
        if extension_missing.any():
            return _missing(p, combo, extension_missing, "extension", 0)
    if ban_missing:
        first = next((f for f in range(a, b) if f in ban_missing), None)
        if first is not None:
            return ban_missing[first]
    if p.has_missing:
        if (refused & (consent_required < 0)).any():
            return _missing(p, combo, refused & (consent_required < 0), "consent", 0)
        if (checked & (deposit_limit < 0)).any():
            return _missing(p, combo, checked & (deposit_limit < 0), "deposit", 0)

    # ---- amounts per month paid
    tsa = ((line * 100 - per_capita) * n + 50) // 100
    tsa *= eligible
    out.tsa[0, a:b] = tsa
    for j in range(1, MAX_MONTHS):
        np.multiply(tsa, months > j, out=out.tsa[j, a:b])
    for j in range(MAX_MONTHS):
        index = take(p.supplement_row[j], combo)
        index *= eligible  # row 0: nothing
        index += counter_bytes[:, 1 + j]
        take(p.supplement_table, index, out=out.child_supplement[j, a:b])
        index = take(p.large_family_row[j], combo)
        index += counter_bytes[:, 4 + j]
        take(p.large_family_table, index, out=out.large_family_allowance[j, a:b])
        if p.has_missing:
            if out.child_supplement[j, a:b].min(initial=0) < 0:
                return _missing(p, combo, out.child_supplement[j, a:b] < 0, "supplement", j)
            if out.large_family_allowance[j, a:b].min(initial=0) < 0:
                family = int(np.argmax(out.large_family_allowance[j, a:b] < 0))
                missing = p.combos[int(combo[family])].missing
                if ("mci", j) in missing:
                    return missing[("mci", j)]
                return missing[("rate", large_family_rate_parameter(int(counter_bytes[family, 4 + j])))]

    bit = REASON_BIT
    reasons = np.where(below, bit["INCOME_BELOW_POVERTY_LINE"], bit["INCOME_NOT_BELOW_POVERTY_LINE"]).astype(np.int32)
    reasons |= take(p.line_source_bit, combo)
    reasons |= np.where(able_count > 0, bit["CONDITIONAL_ABLE_BODIED"], bit["UNCONDITIONAL_NO_ABLE_BODIED"]).astype(np.int32)
    supplement_children = eligible & ((packed & _SUPPLEMENT_BYTES) != 0)
    large_family = (packed & _LARGE_FAMILY_BYTES_4_OR_MORE) != 0
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
    out.first_month[a:b] = take(p.first_month, combo)
    out.months[a:b] = months
    out.reasons[a:b] = reasons
    return None


def _missing(p: _Policies, combo: np.ndarray, flags: np.ndarray, slot: str, month: int) -> MissingParameter:
    """The error `decide` raises for the first family that needs a missing value."""
    return p.combos[int(combo[int(np.argmax(flags))])].missing[(slot, month)]


__all__ = [
    "FamilyColumns", "BulkDecisions", "cases_to_columns", "decide_columns", "reason_codes_of",
    "day_number", "month_number", "month_first_day", "EPOCH", "NO_DAY", "MAX_MONTHS", "BLOCK_FAMILIES",
    "SEX_CODES", "RELATION_CODES", "INCOME_TYPE_CODES",
]
