"""The expense check of an application (rules.md, Disqualifiers: E1–E4; seed 003). Pure Python.

Bank data may be read only after every adult member has consented. So the check of one
application moves through these steps, whatever order its inputs arrive in:

1. the registries' facts are gathered (incomes, and the homes and vehicles bought in the
   assessment quarter) — `Gathered`;
2. the family's consent is settled by intake's consent events: `not_given` (a refusal, an expiry,
   a withdrawal) freezes the evidence at once with `consent=False` and no bank is ever asked;
   `granted` lets verification ask the accounts registry which banks hold the members' accounts
   and each bank for the quarter's aggregates (`BankRequest`);
3. once every bank asked has answered (a signed callback through the gateway), the evidence is
   frozen with the sums. A bank that has not answered by the deadline leaves the application
   visibly overdue, never decided on missing data.

`next_step` says what to do next from the check's state alone, so a restart, a redelivered event
or a late callback resumes where the check stands."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from shared.events.contracts import ExpenseFacts, IncomeRecord, PurchaseRecord, VerificationOverdue

PENDING, GRANTED, NOT_GIVEN = "pending", "granted", "not_given"


@dataclass(frozen=True, slots=True)
class Gathered:
    """What the registries said about the family, and where and when each fact was fetched."""

    incomes: tuple[IncomeRecord, ...]
    purchases: tuple[PurchaseRecord, ...]
    sources: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Check:
    """Where one application's evidence stands. `consents`: the latest record of each adult's
    consent request (intake's events, as JSON), by consent id; `family_consent` as intake last
    announced it. `banks_asked_at` is set once every bank holding a member's account has
    acknowledged its request (or none holds one)."""

    application_id: UUID
    consent_required: bool
    family_consent: str = PENDING
    consents: dict[str, dict[str, Any]] = field(default_factory=dict)
    gathered: Gathered | None = None
    banks_asked_at: datetime | None = None
    bank_deadline: datetime | None = None
    overdue_at: datetime | None = None
    frozen: bool = False

    @property
    def consenting_iins(self) -> tuple[str, ...]:
        """The adults asked to consent: whose accounts the banks are asked about."""
        return tuple(dict.fromkeys(record["iin"] for record in self.consents.values()))


@dataclass(frozen=True, slots=True)
class BankAnswer:
    """A bank's aggregates of the assessment quarter for one person (tenge)."""

    total_spending: Decimal
    non_mortgage_loans: Decimal
    savings_deposits: Decimal  # at the end of the quarter, housing/mortgage deposits apart
    housing_deposits: Decimal = Decimal(0)  # reported apart; never counted (rules.md E4)

    def as_json(self) -> dict[str, str]:
        return {"total_spending": str(self.total_spending), "non_mortgage_loans": str(self.non_mortgage_loans),
                "savings_deposits": str(self.savings_deposits), "housing_deposits": str(self.housing_deposits)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "BankAnswer":
        return cls(**{k: Decimal(v) for k, v in data.items()})


@dataclass(frozen=True, slots=True)
class BankRequest:
    """One person's aggregates asked of one bank (the id travels to the bank and back)."""

    id: UUID
    application_id: UUID
    bank_code: str
    iin: str
    quarter: str
    created_at: datetime
    acknowledged_at: datetime | None = None
    answered_at: datetime | None = None
    answer: BankAnswer | None = None
    attempts: int = 0  # sends that failed so far


# ---- what to do next ---------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Wait:
    """Nothing to do until an input arrives (a consent event, a bank's answer)."""


@dataclass(frozen=True, slots=True)
class AskBanks:
    """The family consented: ask the accounts registry and each bank (what is not asked yet)."""


@dataclass(frozen=True, slots=True)
class Freeze:
    """Freeze the evidence with these expense facts (None: expenses are not checked)."""

    expenses: ExpenseFacts | None


Step = Wait | AskBanks | Freeze


def next_step(check: Check, requests: Sequence[BankRequest]) -> Step:
    if check.frozen or check.gathered is None:
        return Wait()
    purchases = list(check.gathered.purchases)
    if not check.consent_required:
        return Freeze(None)
    if check.family_consent == NOT_GIVEN:
        # No bank is asked, and one already asked is not waited for (its answer is discarded).
        return Freeze(ExpenseFacts(consent=False, purchases=purchases))
    if check.family_consent != GRANTED:
        return Wait()
    if check.banks_asked_at is None:
        return AskBanks()
    if any(r.answer is None for r in requests):
        return Wait()
    return Freeze(totals(purchases, requests))


def totals(purchases: list[PurchaseRecord], requests: Iterable[BankRequest]) -> ExpenseFacts:
    answers = [r.answer for r in requests if r.answer is not None]
    return ExpenseFacts(
        consent=True, purchases=purchases,
        account_spending=sum((a.total_spending for a in answers), Decimal(0)),
        non_mortgage_loans=sum((a.non_mortgage_loans for a in answers), Decimal(0)),
        savings_deposits=sum((a.savings_deposits for a in answers), Decimal(0)),
    )


# ---- consent, as intake announces it ----------------------------------------------------------

def follow_consent(check: Check, record: dict[str, Any], family_consent: str) -> Check:
    """The check after intake announced a change to one adult's consent request."""
    consents = dict(check.consents)
    consents[str(record["consent_id"])] = record
    return replace(check, consents=consents, family_consent=family_consent)


def consent_records(check: Check, banks_of: dict[str, list[str]]) -> list[dict[str, Any]]:
    """The consent records frozen with the evidence, each with the banks concerned filled in."""
    return [record | {"banks": banks_of.get(record["iin"], record.get("banks", []))}
            for record in sorted(check.consents.values(), key=lambda r: (str(r["requested_at"]), r["consent_id"]))]


# ---- a bank's answer ----------------------------------------------------------------------------

RECORDED = "recorded"
ALREADY_RECORDED = "already_recorded"
DISCARDED = "discarded"
OTHER_BANK = "other_bank"
MISMATCH = "mismatch"
DIFFERENT_ANSWER = "different_answer"


@dataclass(frozen=True, slots=True)
class Answered:
    outcome: str
    request: BankRequest
    detail: str = ""
    field: str = "request_id"  # the body field a refusal is about


def answer(request: BankRequest, check: Check, *, bank_code: str, iin: str, quarter: str, figures: BankAnswer,
           at: datetime) -> Answered:
    """What a bank's answer does to the request it names. Only the bank asked may answer, for
    the person and quarter asked; the same answer twice has one effect; a different second
    answer is refused (the first one may already be decided on). Once the evidence is frozen
    without the family's consent, an answer is discarded unread (no consent, no bank data)."""
    if request.bank_code != bank_code:
        return Answered(OTHER_BANK, request, f"Request {request.id} was not sent to bank {bank_code}.")
    if iin != request.iin:
        return Answered(MISMATCH, request, f"Request {request.id} asked about another person.", "iin")
    if quarter != request.quarter:
        return Answered(MISMATCH, request, f"Request {request.id} asked for quarter {request.quarter}.", "quarter")
    if request.answer is not None:
        if request.answer == figures:
            return Answered(ALREADY_RECORDED, request)
        return Answered(DIFFERENT_ANSWER, request, f"Request {request.id} was already answered with other figures.")
    if check.frozen and check.family_consent != GRANTED:
        return Answered(DISCARDED, request, "The family's consent was withdrawn; the answer is not kept.")
    return Answered(RECORDED, replace(request, answered_at=at, answer=figures))


# ---- a bank that does not answer -----------------------------------------------------------------

def overdue(check: Check, requests: Sequence[BankRequest], now: datetime) -> VerificationOverdue | None:
    """The event saying the application is overdue, the first time it is looked at after the
    deadline with a bank still silent; None otherwise."""
    if check.frozen or check.overdue_at is not None or check.bank_deadline is None or check.banks_asked_at is None:
        return None
    silent = sorted({r.bank_code for r in requests if r.answer is None})
    if now < check.bank_deadline or not silent:
        return None
    return VerificationOverdue(application_id=check.application_id, banks=silent, asked_at=check.banks_asked_at,
                               deadline=check.bank_deadline)
