"""The family an application describes, in the vocabulary every Qamqor service uses.

Plain frozen dataclasses: the service layer builds them from requests and evidence snapshots,
`validate_case` checks them, `decide` reads them. Money is `Decimal` tenge with at most two
decimals (tiyn); dates are Asia/Almaty business dates.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from types import MappingProxyType

from shared.regions import REGIONS as _REGIONS
from shared.vocabulary import INCOME_TYPES as _INCOME_TYPES

RELATIONS = ("applicant", "spouse", "child", "parent", "sibling", "grandparent", "grandchild", "other")
SEXES = ("male", "female")

# rules.md "The calculation", step 2: the income-type vocabulary every service uses. Which of them
# count is a parameter (`counted_income_types`), not this list.
INCOME_TYPES = _INCOME_TYPES

# First two digits of a region's KATO code (rules.md "Identity").
REGIONS = MappingProxyType(_REGIONS)


@dataclass(frozen=True, slots=True)
class Member:
    iin: str
    birth_date: date
    sex: str  # "male" | "female"
    relation: str  # one of RELATIONS
    employed: bool = False
    full_time_student: bool = False
    disability_group: int | None = None  # 1, 2, 3
    # Carer of a child under 3, of a disabled child, of a person with group 1–2 disability or of an
    # elderly person needing care (rules.md step 7); established by intake, not inferred here.
    carer: bool = False


@dataclass(frozen=True, slots=True)
class Income:
    iin: str
    type: str  # one of INCOME_TYPES
    month: date  # first day of the month the income was received in
    amount: Decimal


@dataclass(frozen=True, slots=True)
class Expenses:
    """Bank aggregates over the assessment quarter (2025 pilot), available only after consent."""

    consent: bool
    home_or_car_purchase: bool = False
    non_mortgage_loans: Decimal = Decimal(0)
    account_spending: Decimal = Decimal(0)
    deposits: Decimal = Decimal(0)


@dataclass(frozen=True, slots=True)
class History:
    # Art. 128: a ban on a new assignment, either as a date it runs to (established elsewhere) or
    # as the day a family member's social contract was terminated through the recipient's fault,
    # from which the rules count `ban_months`.
    ban_until: date | None = None
    contract_terminated_on: date | None = None
    false_information: bool = False


NO_HISTORY = History()


@dataclass(frozen=True, slots=True)
class Case:
    region_kato: str
    application_date: date
    extension: bool
    members: tuple[Member, ...]
    incomes: tuple[Income, ...] = ()
    expenses: Expenses | None = None
    history: History = NO_HISTORY


@dataclass(frozen=True, slots=True)
class FieldError:
    path: str  # e.g. "members[1].iin", "incomes[0].amount", "region_kato"
    message: str
