"""Input checks that need no parameters. `decide` assumes a case that passed them.

Messages never contain an IIN (personal data); they point at the field by path instead.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from shared.iin import parse_iin
from shared.regions import is_known_region

from .model import INCOME_TYPES, RELATIONS, SEXES, Case, FieldError

_RELATIONS = frozenset(RELATIONS)
_INCOME_TYPES = frozenset(INCOME_TYPES)
_SEXES = frozenset(SEXES)


def money_error(amount: object) -> str | None:
    """Why `amount` is not a valid tenge amount (non-negative, at most 2 decimals), or None."""
    if isinstance(amount, bool) or not isinstance(amount, (Decimal, int)):
        return "must be a decimal amount in tenge"
    if isinstance(amount, Decimal):
        if not amount.is_finite():
            return "must be a finite amount"
        if amount.as_tuple().exponent < -2:  # type: ignore[operator]
            return "must have at most 2 decimal places (tiyn)"
    if amount < 0:
        return "must not be negative"
    return None


def validate_case(case: Case) -> list[FieldError]:
    errors: list[FieldError] = []
    add = errors.append

    if not is_known_region(case.region_kato):
        add(FieldError("region_kato", "unknown region: expected a 9-digit KATO code of one of the 20 regions"))
    if not isinstance(case.application_date, date):
        add(FieldError("application_date", "must be a date"))
        return errors  # every later check compares against it

    if not case.members:
        add(FieldError("members", "a family has at least one member, the applicant"))
    applicants = sum(1 for m in case.members if m.relation == "applicant")
    if case.members and applicants != 1:
        add(FieldError("members", f"exactly one member must have relation 'applicant', found {applicants}"))

    first_index: dict[str, int] = {}
    for i, member in enumerate(case.members):
        path = f"members[{i}]"
        if member.sex not in _SEXES:
            add(FieldError(f"{path}.sex", "must be 'male' or 'female'"))
        if member.relation not in _RELATIONS:
            add(FieldError(f"{path}.relation", f"must be one of: {', '.join(RELATIONS)}"))
        if member.disability_group not in (None, 1, 2, 3):
            add(FieldError(f"{path}.disability_group", "must be 1, 2, 3 or absent"))
        if not isinstance(member.birth_date, date):
            add(FieldError(f"{path}.birth_date", "must be a date"))
        elif member.birth_date > case.application_date:
            add(FieldError(f"{path}.birth_date", "is after the application date"))
        facts = parse_iin(member.iin) if isinstance(member.iin, str) else None
        if facts is None:
            add(FieldError(f"{path}.iin", "invalid IIN (length, check digit, birth date or century digit)"))
            continue
        if member.iin in first_index:
            add(FieldError(f"{path}.iin", f"duplicate member: same IIN as members[{first_index[member.iin]}]"))
        else:
            first_index[member.iin] = i
        if isinstance(member.birth_date, date) and facts.birth_date != member.birth_date:
            add(FieldError(f"{path}.birth_date", "does not match the birth date encoded in the IIN"))
        if member.sex in _SEXES and facts.sex != member.sex:
            add(FieldError(f"{path}.sex", "does not match the sex encoded in the IIN"))

    member_iins = {m.iin for m in case.members}
    for i, income in enumerate(case.incomes):
        path = f"incomes[{i}]"
        if income.iin not in member_iins:
            add(FieldError(f"{path}.iin", "income of a person who is not a member of the family"))
        if income.type not in _INCOME_TYPES:
            add(FieldError(f"{path}.type", "unknown income type"))
        if not isinstance(income.month, date) or income.month.day != 1:
            add(FieldError(f"{path}.month", "must be the first day of a month"))
        problem = money_error(income.amount)
        if problem:
            add(FieldError(f"{path}.amount", problem))

    terminated = case.history.contract_terminated_on
    if terminated is not None and (not isinstance(terminated, date) or terminated > case.application_date):
        add(FieldError("history.contract_terminated_on", "must be a date on or before the application date"))

    if case.expenses is not None:
        for field in ("non_mortgage_loans", "account_spending", "deposits"):
            problem = money_error(getattr(case.expenses, field))
            if problem:
                add(FieldError(f"expenses.{field}", problem))
    return errors
