"""The TSA calculation (Social Code arts. 122, 127, 128; rules.md), as small pure functions.

Money is integer tiyn or `Decimal`, never float; every rounding is ROUND_HALF_UP at the place
rules.md names. `decide` strings the rules together and records every parameter value it read,
so a decision can be explained and recomputed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache

from shared.calendar import Quarter, month_label

from .decision import (
    Decision,
    IgnoredIncome,
    MonthlyAllowance,
    MonthlyPayment,
    Reason,
)
from .model import Case, Expenses, History, Income, Member
from .parameters import MissingParameter, ParameterSet, ParameterValue

RULES_VERSION = "tsa-2025.1"

_ONE = Decimal(1)
_HUNDRED = Decimal(100)

# Law on state benefits to families with children: monthly large-family allowance in MCI by number
# of children; 8 or more get 4 MCI per child. Hundredths of an MCI, to keep the arithmetic integer.
LARGE_FAMILY_RATE_HUNDREDTHS = {4: 1603, 5: 2004, 6: 2405, 7: 2806}
LARGE_FAMILY_PER_CHILD_HUNDREDTHS_FROM_8 = 400
LARGE_FAMILY_MIN_CHILDREN = 4

CHILD_SUPPLEMENT_MIN_AGE = 1
CHILD_SUPPLEMENT_MAX_AGE = 6
ADULT_AGE = 18
STUDENT_CHILD_MAX_AGE = 23  # large-family allowance: full-time students count while under 23

IGNORED_OUTSIDE_QUARTER = "outside_assessment_quarter"
IGNORED_NOT_COUNTED = "not_counted_type"
IGNORED_ON_EXTENSION = "disregarded_on_extension"


# ---------------------------------------------------------------------------------------- rounding

def round_half_up_tenge(amount: Decimal) -> int:
    return int(amount.quantize(_ONE, ROUND_HALF_UP))


def divide_half_up(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded half-up, for numerator ≥ 0 and denominator > 0."""
    return (2 * numerator + denominator) // (2 * denominator)


def tiyn(amount: Decimal | int) -> int:
    """Tenge (at most 2 decimals, validated upstream) → integer tiyn."""
    return int(amount * 100)


def tiyn_to_decimal(amount_tiyn: int) -> Decimal:
    return Decimal(amount_tiyn).scaleb(-2)


# ----------------------------------------------------------------------------------------- periods

def quarter_of(day: date) -> Quarter:
    return Quarter.of(day)


def assessment_quarter(application_date: date) -> Quarter:
    """Q−1: the quarter before the one the application falls in (January → Q4 of the year before)."""
    return quarter_of(application_date).previous()


def assignment_months(application_date: date) -> tuple[date, ...]:
    """First days of the months paid: the month of application to the end of its quarter."""
    last = quarter_of(application_date).last_month
    return tuple(date(application_date.year, m, 1) for m in range(application_date.month, last + 1))


@dataclass(frozen=True, slots=True)
class Period:
    """The calendar facts of an application date (memoised: many families share a date)."""

    quarter: Quarter
    assessed: Quarter
    months: tuple[date, ...]
    labels: tuple[str, ...]


@lru_cache(maxsize=8192)
def period_of(application_date: date) -> Period:
    months = assignment_months(application_date)
    return Period(quarter_of(application_date), assessment_quarter(application_date), months,
                  tuple(month_label(m) for m in months))


def age_on(birth_date: date, on: date) -> int:
    """Full years at `on`. Born 29 February: a year older on 1 March in common years."""
    return on.year - birth_date.year - ((on.month, on.day) < (birth_date.month, birth_date.day))


def latest_birth_date_for_age(on: date, years: int) -> date:
    """The latest birth date of someone at least `years` old on `on` (born on or before it)."""
    try:
        return on.replace(year=on.year - years)
    except ValueError:  # `on` is 29 February and that year is common: born 28 February qualifies
        return date(on.year - years, 2, 28)


# ------------------------------------------------------------------------------------------ income

@dataclass(frozen=True, slots=True)
class IncomeAssessment:
    counted_total_tiyn: int
    ignored: tuple[IgnoredIncome, ...]


def assess_incomes(
    incomes: Iterable[Income],
    quarter: Quarter,
    counted_types: frozenset[str],
    disregarded_types: frozenset[str],
) -> IncomeAssessment:
    """Sum the counted incomes received in the assessment quarter; say why each other one is ignored."""
    first = quarter.first_day
    year, first_month, last_month = first.year, first.month, first.month + 2
    total = 0
    ignored = []
    for income in incomes:
        month = income.month
        if month.year != year or not first_month <= month.month <= last_month:
            why = IGNORED_OUTSIDE_QUARTER
        elif income.type not in counted_types:
            why = IGNORED_NOT_COUNTED
        elif income.type in disregarded_types:
            why = IGNORED_ON_EXTENSION
        else:
            total += int(income.amount * 100)
            continue
        ignored.append(IgnoredIncome(income.iin, income.type, month, income.amount, why))
    if len(ignored) > 1:
        ignored.sort(key=IgnoredIncome.sort_key)
    return IncomeAssessment(total, tuple(ignored))


def per_capita_income_tiyn(counted_total_tiyn: int, members: int) -> int:
    """(sum of counted incomes of Q−1) / members / 3, half-up to the tiyn (2 decimals)."""
    return divide_half_up(counted_total_tiyn, 3 * members)


def per_capita_income(counted_total: Decimal, members: int) -> Decimal:
    return tiyn_to_decimal(per_capita_income_tiyn(tiyn(counted_total), members))


# ------------------------------------------------------------------------------------ poverty line

@dataclass(frozen=True, slots=True)
class PovertyLine:
    amount: int  # whole tenge
    source: str  # "median" | "subsistence"
    subsistence_minimum: Decimal
    subsistence_share: Decimal
    subsistence_term: Decimal
    median_income: Decimal | None
    median_share: Decimal | None
    median_term: Decimal | None
    used: tuple[ParameterValue, ...]


def poverty_line(params: ParameterSet, region_kato: str, application_date: date) -> PovertyLine:
    """max(median share × median income, subsistence share × subsistence minimum), half-up to tenge.

    Statistics are read on the first day of Q−1, shares on the application date; the median term
    exists only while `poverty_line_median_share` has a value (from 2025-01-01). A tie goes to the
    subsistence term.
    """
    return params.derived(
        ("poverty_line", region_kato, application_date),
        lambda: _poverty_line(params, region_kato, application_date),
    )


def _poverty_line(params: ParameterSet, region_kato: str, application_date: date) -> PovertyLine:
    statistics_day = assessment_quarter(application_date).first_day
    minimum = params.get("subsistence_minimum", statistics_day, region_kato)
    subsistence_share = params.get("poverty_line_subsistence_share", application_date, region_kato)
    subsistence_term = subsistence_share.value * minimum.value
    used = [minimum, subsistence_share]
    median_share = params.find("poverty_line_median_share", application_date, region_kato)
    median = median_term = None
    source, line = "subsistence", subsistence_term
    if median_share is not None:
        median = params.get("median_income", statistics_day, region_kato)
        used += [median, median_share]
        median_term = median_share.value * median.value
        if median_term > subsistence_term:
            source, line = "median", median_term
    return PovertyLine(
        amount=round_half_up_tenge(line),
        source=source,
        subsistence_minimum=minimum.value,
        subsistence_share=subsistence_share.value,
        subsistence_term=subsistence_term,
        median_income=median.value if median else None,
        median_share=median_share.value if median_share else None,
        median_term=median_term,
        used=tuple(used),
    )


# ------------------------------------------------------------------------------------ able-bodied

def is_able_bodied(member: Member, on: date, retirement_age_male: int, retirement_age_female: int) -> bool:
    """18 to below retirement age, no group 1/2 disability, not a full-time student, not a carer."""
    if member.disability_group in (1, 2) or member.full_time_student or member.carer:
        return False
    age = age_on(member.birth_date, on)
    retirement_age = retirement_age_male if member.sex == "male" else retirement_age_female
    return ADULT_AGE <= age < retirement_age


def able_bodied_count(members: Sequence[Member], on: date, retirement_age_male: int, retirement_age_female: int) -> int:
    return sum(1 for m in members if is_able_bodied(m, on, retirement_age_male, retirement_age_female))


def kind_of(able_bodied: int) -> str:
    """Art. 127: unconditional without an able-bodied member, else conditional (social contract)."""
    return "conditional" if able_bodied else "unconditional"


# ------------------------------------------------------------------------------------------ amounts

def monthly_tsa(poverty_line_tenge: int, per_capita_tiyn: int, members: int) -> int:
    """(poverty line − per-capita income) × members, half-up to whole tenge."""
    return divide_half_up((poverty_line_tenge * 100 - per_capita_tiyn) * members, 100)


def supplement_children(members: Iterable[Member], month_first_day: date) -> int:
    """Members aged 1 to 6 inclusive on the first day of the month paid."""
    return sum(
        1 for m in members
        if CHILD_SUPPLEMENT_MIN_AGE <= age_on(m.birth_date, month_first_day) <= CHILD_SUPPLEMENT_MAX_AGE
    )


def child_supplement_per_child(child_supplement_mci: Decimal, mci: Decimal) -> int:
    return round_half_up_tenge(child_supplement_mci * mci)


def child_supplement(members: Iterable[Member], month_first_day: date, child_supplement_mci: Decimal,
                     mci: Decimal) -> int:
    """The month's supplement: children aged 1–6 × (1.5 MCI of that month, half-up per child)."""
    return supplement_children(members, month_first_day) * child_supplement_per_child(child_supplement_mci, mci)


def is_large_family_child(member: Member, on: date) -> bool:
    if member.relation != "child":
        return False
    age = age_on(member.birth_date, on)
    return age < ADULT_AGE or (age < STUDENT_CHILD_MAX_AGE and member.full_time_student)


def large_family_children(members: Iterable[Member], on: date) -> int:
    return sum(1 for m in members if is_large_family_child(m, on))


def large_family_rate_hundredths(children: int) -> int:
    """Monthly allowance in hundredths of an MCI for this many children (0 below 4)."""
    if children < LARGE_FAMILY_MIN_CHILDREN:
        return 0
    return LARGE_FAMILY_RATE_HUNDREDTHS.get(children, LARGE_FAMILY_PER_CHILD_HUNDREDTHS_FROM_8 * children)


def large_family_allowance(children: int, mci: Decimal) -> int:
    return round_half_up_tenge(Decimal(large_family_rate_hundredths(children)) * mci / _HUNDRED)


# ------------------------------------------------------------------------------------ disqualifiers

def is_banned(history: History, application_date: date) -> bool:
    """Art. 128: the ban runs to `ban_until` inclusive."""
    return history.ban_until is not None and application_date <= history.ban_until


def loans_exceed(expenses: Expenses, members: int, subsistence_minimum: Decimal) -> bool:
    """E2: non-mortgage loans / 3 / members > subsistence minimum (compared exactly, no rounding)."""
    return expenses.non_mortgage_loans > subsistence_minimum * 3 * members


def spending_exceeds(expenses: Expenses, members: int, poverty_line_tenge: int) -> bool:
    """E3: account spending / 3 / members > poverty line."""
    return expenses.account_spending > poverty_line_tenge * 3 * members


def deposit_limit(deposit_limit_mci: Decimal, mci: Decimal) -> Decimal:
    return deposit_limit_mci * mci


def per_member_per_month(total: Decimal, members: int) -> Decimal:
    """For explanations only: total / 3 / members, half-up to the tiyn."""
    return tiyn_to_decimal(divide_half_up(tiyn(total), 3 * members))


# ------------------------------------------------------------------------------------------ decide

class _Reader:
    """Reads parameters for one case and remembers each value used, in order, once."""

    __slots__ = ("params", "region", "used")

    def __init__(self, params: ParameterSet, region: str):
        self.params = params
        self.region = region
        self.used: dict[int, ParameterValue] = {}

    def get(self, name: str, on: date) -> ParameterValue:
        value = self.params.get(name, on, self.region)
        self.used[id(value)] = value
        return value

    def record(self, values: Iterable[ParameterValue]) -> None:
        for value in values:
            self.used[id(value)] = value


@dataclass(frozen=True, slots=True)
class DayPolicy:
    """Everything read on the application date that does not depend on the family."""

    line: PovertyLine
    counted: frozenset[str]
    retirement_age_male: int
    retirement_age_female: int
    used: tuple[ParameterValue, ...]
    # read only for extensions: the value, or the error to raise when an extension needs it
    disregarded_on_extension: ParameterValue | MissingParameter


def day_policy(params: ParameterSet, region: str, day: date) -> DayPolicy:
    def compute() -> DayPolicy:
        line = poverty_line(params, region, day)
        counted = params.get("counted_income_types", day, region)
        male = params.get("retirement_age_male", day, region)
        female = params.get("retirement_age_female", day, region)
        try:
            disregarded: ParameterValue | MissingParameter = params.get(
                "disregarded_on_extension_income_types", day, region)
        except MissingParameter as error:
            disregarded = error
        return DayPolicy(
            line=line,
            counted=frozenset(counted.value),
            retirement_age_male=int(male.value),
            retirement_age_female=int(female.value),
            used=line.used + (counted, male, female),
            disregarded_on_extension=disregarded,
        )
    return params.derived(("day_policy", region, day), compute)


def decide(case: Case, params: ParameterSet) -> Decision:
    """The decision on one valid case (see `validate_case`). Raises MissingParameter."""
    day = case.application_date
    members = case.members
    n = len(members)
    reader = _Reader(params, case.region_kato)
    policy = day_policy(params, case.region_kato, day)
    reader.record(policy.used)
    line = policy.line
    period = period_of(day)
    assessed = period.assessed

    disregarded: frozenset[str] = frozenset()
    if case.extension:
        # Seed 000: on a quarterly extension some incomes are disregarded (policy: employment_measure),
        # so work under the social contract does not end assistance at the next extension.
        if isinstance(policy.disregarded_on_extension, MissingParameter):
            raise policy.disregarded_on_extension.again()
        reader.record((policy.disregarded_on_extension,))
        disregarded = frozenset(policy.disregarded_on_extension.value)
    incomes = assess_incomes(case.incomes, assessed, policy.counted, disregarded)
    per_capita = per_capita_income_tiyn(incomes.counted_total_tiyn, n)
    below = per_capita < line.amount * 100
    per_capita_decimal = tiyn_to_decimal(per_capita)

    reasons: list[Reason] = []
    add = reasons.append
    add(Reason(
        "INCOME_BELOW_POVERTY_LINE" if below else "INCOME_NOT_BELOW_POVERTY_LINE",
        {"per_capita_income": per_capita_decimal, "poverty_line": line.amount,
         "counted_income_total": tiyn_to_decimal(incomes.counted_total_tiyn), "members": n},
    ))
    add(Reason(
        "POVERTY_LINE_FROM_MEDIAN" if line.source == "median" else "POVERTY_LINE_FROM_SUBSISTENCE",
        {"poverty_line": line.amount, "assessment_quarter": str(assessed),
         "subsistence_minimum": line.subsistence_minimum, "subsistence_share": line.subsistence_share,
         "subsistence_term": line.subsistence_term, "median_income": line.median_income,
         "median_share": line.median_share, "median_term": line.median_term},
    ))
    able = able_bodied_count(members, day, policy.retirement_age_male, policy.retirement_age_female)
    kind = kind_of(able)
    add(Reason(
        "CONDITIONAL_ABLE_BODIED" if able else "UNCONDITIONAL_NO_ABLE_BODIED",
        {"able_bodied_members": able, "members": n},
    ))

    disqualified = False
    if is_banned(case.history, day):
        disqualified = True
        add(Reason("BAN_ACTIVE", {"ban_until": case.history.ban_until, "application_date": day}))
    if case.history.false_information:
        disqualified = True
        add(Reason("FALSE_INFORMATION", {}))
    expenses = case.expenses
    if expenses is not None:
        if not expenses.consent:
            required = reader.get("consent_required", day)
            if required.value:
                disqualified = True
                add(Reason("CONSENT_NOT_GIVEN", {}))
        else:
            disqualified |= _expense_reasons(expenses, n, line, reader, day, add)

    eligible = below and not disqualified
    months = period.months
    monthly: list[MonthlyPayment] = []
    if eligible:
        tsa = monthly_tsa(line.amount, per_capita, n)
        supplement_months = []
        for first_day, label in zip(months, period.labels):
            children = supplement_children(members, first_day)
            supplement = 0
            if children:
                share = reader.get("child_supplement_mci", day)
                mci = reader.get("mci", first_day)
                per_child = child_supplement_per_child(share.value, mci.value)
                supplement = children * per_child
                supplement_months.append({"month": label, "children": children,
                                          "per_child": per_child, "amount": supplement})
            monthly.append(MonthlyPayment(label, tsa, supplement, tsa + supplement))
        if supplement_months:
            add(Reason("CHILD_SUPPLEMENT", {
                "children": max(m["children"] for m in supplement_months),
                "per_child": supplement_months[0]["per_child"],
                "months": supplement_months,
            }))

    allowance: list[MonthlyAllowance] = []
    allowance_months = []
    for first_day, label in zip(months, period.labels):
        children = large_family_children(members, first_day)
        if children >= LARGE_FAMILY_MIN_CHILDREN:
            mci = reader.get("mci", first_day)
            amount = large_family_allowance(children, mci.value)
            allowance.append(MonthlyAllowance(label, amount))
            allowance_months.append({"month": label, "children": children,
                                     "rate_mci": tiyn_to_decimal(large_family_rate_hundredths(children)),
                                     "amount": amount})
    if allowance_months:
        add(Reason("LARGE_FAMILY_ALLOWANCE", {
            "children": allowance_months[0]["children"],
            "rate_mci": allowance_months[0]["rate_mci"],
            "months": allowance_months,
        }))

    reasons.sort(key=Reason.order)
    return Decision(
        eligible=eligible,
        kind=kind,
        assessment_quarter=str(assessed),
        period_quarter=str(period.quarter),
        period_months=period.labels,
        poverty_line=line.amount,
        per_capita_income=per_capita_decimal,
        members=n,
        monthly=tuple(monthly),
        large_family_allowance=tuple(allowance),
        reasons=tuple(reasons),
        ignored_incomes=incomes.ignored,
        parameters=tuple(reader.used.values()),
        rules_version=RULES_VERSION,
    )


def _expense_reasons(expenses: Expenses, n: int, line: PovertyLine, reader: _Reader, day: date, add) -> bool:
    """E1–E4 of the 2025 pilot (seed 003), on bank aggregates of Q−1. True if any applies."""
    found = False
    if expenses.home_or_car_purchase:
        found = True
        add(Reason("EXPENSE_PURCHASE", {}))
    if loans_exceed(expenses, n, line.subsistence_minimum):
        found = True
        add(Reason("EXPENSE_LOANS", {
            "non_mortgage_loans": expenses.non_mortgage_loans,
            "per_member_per_month": per_member_per_month(expenses.non_mortgage_loans, n),
            "subsistence_minimum": line.subsistence_minimum}))
    if spending_exceeds(expenses, n, line.amount):
        found = True
        add(Reason("EXPENSE_SPENDING", {
            "account_spending": expenses.account_spending,
            "per_member_per_month": per_member_per_month(expenses.account_spending, n),
            "poverty_line": line.amount}))
    limit_mci = reader.get("deposit_limit_mci", day)
    mci = reader.get("mci", day)
    limit = deposit_limit(limit_mci.value, mci.value)
    if expenses.deposits > limit:
        found = True
        add(Reason("EXPENSE_DEPOSITS", {
            "deposits": expenses.deposits, "limit": limit,
            "deposit_limit_mci": limit_mci.value, "mci": mci.value}))
    return found


__all__ = [
    "RULES_VERSION", "MissingParameter", "Quarter", "PovertyLine", "IncomeAssessment",
    "Period", "period_of", "quarter_of", "assessment_quarter", "assignment_months", "month_label", "age_on",
    "latest_birth_date_for_age",
    "assess_incomes", "per_capita_income", "per_capita_income_tiyn", "poverty_line", "is_able_bodied", "able_bodied_count",
    "kind_of", "monthly_tsa", "supplement_children", "child_supplement_per_child", "child_supplement",
    "is_large_family_child", "large_family_children", "large_family_rate_hundredths",
    "large_family_allowance", "is_banned", "loans_exceed", "spending_exceeds", "deposit_limit",
    "decide",
]
