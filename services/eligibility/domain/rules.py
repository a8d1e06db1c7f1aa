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

from shared.calendar import Quarter, age_on, assessment_quarter, month_label

from .decision import (
    Decision,
    IgnoredIncome,
    MonthlyAllowance,
    MonthlyPayment,
    Reason,
)
from .model import Case, Expenses, History, Income, Member
from .parameters import MissingParameter, ParameterSet, ParameterValue

# tsa-2025.2: the ages, the large-family rates and the ban's length are read from parameters
# (and listed among the values a decision used) instead of being constants of the code.
RULES_VERSION = "tsa-2025.2"

_ONE = Decimal(1)

# Law on state benefits to families with children: the monthly large-family allowance is a rate in
# MCI for 4, 5, 6 and 7 children, and a rate per child from 8. The counts are the law's structure;
# the rates are parameters.
LARGE_FAMILY_MIN_CHILDREN = 4
LARGE_FAMILY_PER_CHILD_FROM = 8
LARGE_FAMILY_RATE_PARAMETERS = {c: f"large_family_allowance_mci_{c}_children"
                                for c in range(LARGE_FAMILY_MIN_CHILDREN, LARGE_FAMILY_PER_CHILD_FROM)}
LARGE_FAMILY_PER_CHILD_PARAMETER = "large_family_allowance_mci_per_child_8_or_more"

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

def assignment_months(application_date: date) -> tuple[date, ...]:
    """First days of the months paid: the month of application to the end of its quarter."""
    last = Quarter.of(application_date).last_month
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
    return Period(Quarter.of(application_date), assessment_quarter(application_date), months,
                  tuple(month_label(m) for m in months))


def latest_birth_date_for_age(on: date, years: int) -> date:
    """The latest birth date of someone at least `years` old on `on` (born on or before it)."""
    try:
        return on.replace(year=on.year - years)
    except ValueError:  # `on` is 29 February and that year is common: born 28 February qualifies
        return date(on.year - years, 2, 28)


def add_months(day: date, months: int) -> date:
    """The same day `months` later; the last day of the month when that month is shorter."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    following = date(year + (month == 12), month % 12 + 1, 1)
    return date(year, month, min(day.day, (following - date(year, month, 1)).days))


@dataclass(frozen=True, slots=True)
class AgeLimits:
    """The ages the rules turn on (policy values, read on the application date)."""

    adult: int  # adult_age: able-bodied from this age; a large-family child until it
    retirement_male: int  # retirement_age_male: able-bodied below it
    retirement_female: int  # retirement_age_female
    supplement_min: int  # child_supplement_min_age, inclusive
    supplement_max: int  # child_supplement_max_age, inclusive
    student_child_limit: int  # student_child_age_limit: full-time students count as children below it


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

def is_able_bodied(member: Member, on: date, ages: AgeLimits) -> bool:
    """Adult to below retirement age, no group 1/2 disability, not a full-time student, not a carer."""
    if member.disability_group in (1, 2) or member.full_time_student or member.carer:
        return False
    age = age_on(member.birth_date, on)
    retirement_age = ages.retirement_male if member.sex == "male" else ages.retirement_female
    return ages.adult <= age < retirement_age


def able_bodied_iins(members: Sequence[Member], on: date, ages: AgeLimits) -> tuple[str, ...]:
    """The members a social contract binds (rules.md step 7), in the family's order."""
    return tuple(m.iin for m in members if is_able_bodied(m, on, ages))


def kind_of(able_bodied: int) -> str:
    """Art. 127: unconditional without an able-bodied member, else conditional (social contract)."""
    return "conditional" if able_bodied else "unconditional"


# ------------------------------------------------------------------------------------------ amounts

def monthly_tsa(poverty_line_tenge: int, per_capita_tiyn: int, members: int) -> int:
    """(poverty line − per-capita income) × members, half-up to whole tenge."""
    return divide_half_up((poverty_line_tenge * 100 - per_capita_tiyn) * members, 100)


def supplement_children(members: Iterable[Member], month_first_day: date, ages: AgeLimits) -> int:
    """Members aged 1 to 6 inclusive (the parameters' ages) on the first day of the month paid."""
    return sum(
        1 for m in members
        if ages.supplement_min <= age_on(m.birth_date, month_first_day) <= ages.supplement_max
    )


def child_supplement_per_child(child_supplement_mci: Decimal, mci: Decimal) -> int:
    return round_half_up_tenge(child_supplement_mci * mci)


def child_supplement(members: Iterable[Member], month_first_day: date, ages: AgeLimits,
                     child_supplement_mci: Decimal, mci: Decimal) -> int:
    """The month's supplement: children aged 1–6 × (1.5 MCI of that month, half-up per child)."""
    return supplement_children(members, month_first_day, ages) * child_supplement_per_child(child_supplement_mci, mci)


def is_large_family_child(member: Member, on: date, ages: AgeLimits) -> bool:
    """A child under 18, or under 23 and a full-time student (the parameters' ages)."""
    if member.relation != "child":
        return False
    age = age_on(member.birth_date, on)
    return age < ages.adult or (age < ages.student_child_limit and member.full_time_student)


def large_family_children(members: Iterable[Member], on: date, ages: AgeLimits) -> int:
    return sum(1 for m in members if is_large_family_child(m, on, ages))


def large_family_rate_parameter(children: int) -> str | None:
    """The parameter holding the monthly rate for this many children; None below 4 (no allowance)."""
    if children < LARGE_FAMILY_MIN_CHILDREN:
        return None
    return LARGE_FAMILY_RATE_PARAMETERS.get(children, LARGE_FAMILY_PER_CHILD_PARAMETER)


def large_family_rate_mci(children: int, rate: Decimal) -> Decimal:
    """The family's monthly rate in MCI: the rate itself for 4–7 children, per child from 8."""
    return rate * children if children >= LARGE_FAMILY_PER_CHILD_FROM else rate


def large_family_allowance(rate_mci: Decimal, mci: Decimal) -> int:
    return round_half_up_tenge(rate_mci * mci)


# ------------------------------------------------------------------------------------ disqualifiers

def ban_after_termination(terminated_on: date, ban_months: int) -> date:
    """Art. 128: a contract terminated through the recipient's fault bars a new assignment for
    `ban_months`; the ban runs to the same day that many months later, inclusive (an application
    on it still finds the termination within the months before it)."""
    return add_months(terminated_on, ban_months)


def is_banned(ban_until: date | None, application_date: date) -> bool:
    """Art. 128: the ban runs to `ban_until` inclusive."""
    return ban_until is not None and application_date <= ban_until


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
    ages: AgeLimits
    used: tuple[ParameterValue, ...]
    # read only for extensions: the value, or the error to raise when an extension needs it
    disregarded_on_extension: ParameterValue | MissingParameter


_AGE_PARAMETERS = ("adult_age", "retirement_age_male", "retirement_age_female", "child_supplement_min_age",
                   "child_supplement_max_age", "student_child_age_limit")


def day_policy(params: ParameterSet, region: str, day: date) -> DayPolicy:
    def compute() -> DayPolicy:
        line = poverty_line(params, region, day)
        counted = params.get("counted_income_types", day, region)
        ages = [params.get(name, day, region) for name in _AGE_PARAMETERS]
        try:
            disregarded: ParameterValue | MissingParameter = params.get(
                "disregarded_on_extension_income_types", day, region)
        except MissingParameter as error:
            disregarded = error
        return DayPolicy(
            line=line,
            counted=frozenset(counted.value),
            ages=AgeLimits(*(int(a.value) for a in ages)),
            used=line.used + (counted, *ages),
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
    ages = policy.ages
    able = able_bodied_iins(members, day, ages)
    kind = kind_of(len(able))
    add(Reason(
        "CONDITIONAL_ABLE_BODIED" if able else "UNCONDITIONAL_NO_ABLE_BODIED",
        {"able_bodied_members": len(able), "members": n},
    ))

    disqualified = False
    ban_until, ban_explained = _ban(case.history, reader)
    if is_banned(ban_until, day):
        disqualified = True
        add(Reason("BAN_ACTIVE", {"ban_until": ban_until, "application_date": day, **ban_explained}))
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
            children = supplement_children(members, first_day, ages)
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
        children = large_family_children(members, first_day, ages)
        rate_parameter = large_family_rate_parameter(children)
        if rate_parameter is not None:
            mci = reader.get("mci", first_day)
            rate = large_family_rate_mci(children, reader.get(rate_parameter, day).value)
            amount = large_family_allowance(rate, mci.value)
            allowance.append(MonthlyAllowance(label, amount))
            allowance_months.append({"month": label, "children": children, "rate_mci": rate, "amount": amount})
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
        able_bodied_iins=able,
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


def _ban(history: History, reader: _Reader) -> tuple[date | None, dict[str, object]]:
    """The last day of a ban (art. 128) and what explains it beyond that day: `ban_until` as given,
    or `ban_months` after a contract terminated through the recipient's fault — the length in force
    on the termination day — whichever ends later."""
    terminated = history.contract_terminated_on
    if terminated is None:
        return history.ban_until, {}
    months = int(reader.get("ban_months", terminated).value)
    after_termination = ban_after_termination(terminated, months)
    if history.ban_until is not None and history.ban_until >= after_termination:
        return history.ban_until, {}
    return after_termination, {"contract_terminated_on": terminated, "ban_months": months}


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
    "RULES_VERSION", "MissingParameter", "PovertyLine", "IncomeAssessment", "AgeLimits", "DayPolicy",
    "Period", "period_of", "assignment_months", "age_on", "latest_birth_date_for_age", "add_months",
    "assess_incomes", "per_capita_income", "per_capita_income_tiyn", "poverty_line", "day_policy",
    "is_able_bodied", "able_bodied_iins", "kind_of", "monthly_tsa", "supplement_children",
    "child_supplement_per_child", "child_supplement", "is_large_family_child", "large_family_children",
    "large_family_rate_parameter", "large_family_rate_mci", "large_family_allowance",
    "ban_after_termination", "is_banned", "loans_exceed", "spending_exceeds", "deposit_limit",
    "decide",
]
