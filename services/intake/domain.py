"""Applications: the family's check at the door and the status an application moves through.
Pure Python: the application's states and the rules that move it; the service loads, calls these,
saves and emits."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any
from uuid import UUID

from shared.calendar import business_date
from shared.events.contracts import (
    ApplicationSubmitted,
    BankAccount,
    CaseContext,
    ContractDrafted,
    ContractSigned,
    EligibilityDecided,
    EligibilityDeferred,
    FamilyMember,
    PaymentScheduled,
    VerificationCompleted,
)
from shared.iin import iin_problems, mask_iin
from shared.regions import is_known_region

# The statuses a citizen sees, in the order the flow reaches them.
SUBMITTED = "submitted"
VERIFIED = "verified"
DECISION_PENDING = "decision_pending"
APPROVED = "approved"
REJECTED = "rejected"
CONTRACT_DRAFTED = "contract_drafted"
CONTRACT_SIGNED = "contract_signed"
PAYMENTS_SCHEDULED = "payments_scheduled"
WITHDRAWN = "withdrawn"

_ORDER = {s: i for i, s in enumerate(
    [SUBMITTED, VERIFIED, DECISION_PENDING, APPROVED, CONTRACT_DRAFTED, CONTRACT_SIGNED, PAYMENTS_SCHEDULED]
)}
FINAL_NEGATIVE = frozenset({REJECTED, WITHDRAWN})
# After these an application no longer blocks its members from a new one.
INACTIVE = FINAL_NEGATIVE

# What the flow tells intake about an application, each moving it to a status.
FlowEvent = (VerificationCompleted | EligibilityDecided | EligibilityDeferred | ContractDrafted | ContractSigned
             | PaymentScheduled)


class ApplicationRefused(Exception):
    """The application cannot be accepted; `problems` are (field path, message) pairs, with no
    IIN in clear."""

    def __init__(self, detail: str, problems: list[tuple[str, str]]) -> None:
        super().__init__(detail)
        self.problems = problems


class InvalidApplication(ApplicationRefused):
    """The family as stated breaks a rule of the form (IINs, birth dates, one applicant, region)."""


class ActiveApplicationExists(ApplicationRefused):
    """A member is already on an application that is neither decided negatively nor withdrawn."""


@dataclass(frozen=True, slots=True)
class Member:
    iin: str
    full_name: str
    birth_date: date
    sex: str
    relation: str
    phone: str | None = None
    employed: bool = False
    full_time_student: bool = False
    disability_group: int | None = None
    carer: bool = False


@dataclass(frozen=True, slots=True)
class ApplicationForm:
    """What the family states when it applies."""

    channel: str
    region_kato: str
    settlement: str
    bank_iban: str
    bank_code: str
    expense_check_consent: bool
    extension: bool
    members: tuple[Member, ...]


@dataclass(frozen=True, slots=True)
class StatusChange:
    status: str
    at: datetime
    event_id: UUID | None = None  # the event that moved it; None for the submission itself
    detail: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Application:
    id: UUID
    status: str
    channel: str
    region_kato: str
    settlement: str
    application_date: date
    extension: bool
    expense_check_consent: bool
    bank_iban: str
    bank_code: str
    submitted_by: str
    submitted_at: datetime
    members: tuple[Member, ...]
    timeline: tuple[StatusChange, ...]
    decision: dict[str, Any] | None = None
    contract_id: UUID | None = None

    @property
    def holds_members(self) -> bool:
        """One active application per person: while this one is active, none of its members
        may be on another."""
        return self.status not in INACTIVE


def can_move(current: str, new: str) -> bool:
    """Events may arrive late or twice; a status only moves forward, and a final negative
    status is never left."""
    if current in FINAL_NEGATIVE:
        return False
    if new in FINAL_NEGATIVE:
        return True
    return _ORDER.get(new, -1) > _ORDER.get(current, -1)


def family_problems(members: Collection[Member], today: date) -> list[tuple[str, str]]:
    """(field path, message) for every reason the family as stated cannot be accepted."""
    problems: list[tuple[str, str]] = []
    seen: dict[str, int] = {}
    for i, m in enumerate(members):
        for message in iin_problems(m.iin, m.birth_date, m.sex):
            field = "birth_date" if message.startswith("birth date") else "sex" if message.startswith("sex") else "iin"
            problems.append((f"members[{i}].{field}", message))
        if m.birth_date > today:
            problems.append((f"members[{i}].birth_date", "birth date is in the future"))
        if m.iin in seen:
            problems.append((f"members[{i}].iin", f"the same person is already listed as members[{seen[m.iin]}]"))
        seen.setdefault(m.iin, i)
    applicants = [i for i, m in enumerate(members) if m.relation == "applicant"]
    if len(applicants) != 1:
        problems.append(("members", f"exactly one member must have relation 'applicant' (found {len(applicants)})"))
    return problems


def application_problems(form: ApplicationForm, today: date) -> list[tuple[str, str]]:
    problems = family_problems(form.members, today)
    if not is_known_region(form.region_kato):
        problems.append(("region_kato", "unknown region: the first two digits of the KATO code name no region"))
    return problems


def submit(form: ApplicationForm, *, submitted_by: str, at: datetime, members_on_active_applications: Collection[str],
           new_id: Callable[[], UUID]) -> tuple[Application, ApplicationSubmitted]:
    """A family applies at `at`; its application date is that day in Almaty.
    `members_on_active_applications`: the IINs of the form already on an active application."""
    today = business_date(at)
    problems = application_problems(form, today)
    if problems:
        raise InvalidApplication(f"The family as submitted cannot be accepted ({len(problems)} problem(s)).", problems)
    iins = [m.iin for m in form.members]
    taken = sorted(set(iins) & set(members_on_active_applications))
    if taken:
        raise ActiveApplicationExists(
            "A member already has an active application; it must be decided or withdrawn first.",
            [(f"members[{iins.index(i)}].iin", f"{mask_iin(i)} already has an active application") for i in taken],
        )
    application = Application(
        id=new_id(),
        status=SUBMITTED,
        channel=form.channel,
        region_kato=form.region_kato,
        settlement=form.settlement,
        application_date=today,
        extension=form.extension,
        expense_check_consent=form.expense_check_consent,
        bank_iban=form.bank_iban,
        bank_code=form.bank_code,
        submitted_by=submitted_by,
        submitted_at=at,
        members=form.members,
        timeline=(StatusChange(SUBMITTED, at),),
    )
    return application, ApplicationSubmitted(
        application=case_context(application),
        expense_check_consent=application.expense_check_consent,
        members=[FamilyMember(iin=m.iin, full_name=m.full_name, birth_date=m.birth_date, sex=m.sex,
                              relation=m.relation, employed=m.employed, full_time_student=m.full_time_student,
                              disability_group=m.disability_group, carer=m.carer) for m in application.members],
    )


def case_context(application: Application) -> CaseContext:
    return CaseContext(
        application_id=application.id,
        application_date=application.application_date,
        region_kato=application.region_kato,
        settlement=application.settlement,
        channel=application.channel,
        extension=application.extension,
        bank_account=BankAccount(iban=application.bank_iban, bank_code=application.bank_code),
    )


def application_id_of(event: FlowEvent) -> UUID:
    match event:
        case VerificationCompleted() | EligibilityDecided() | EligibilityDeferred():
            return event.application.application_id
        case _:
            return event.application_id


def follow(application: Application, event: FlowEvent, *, event_id: UUID,
           at: datetime) -> tuple[Application, StatusChange | None]:
    """The application as the flow reports `event` about it: facts it carries (the decision,
    the contract) are kept, and the status moves if it moves forward. The status change is None
    when it does not (the event came late or twice)."""
    match event:
        case VerificationCompleted():
            return _move(application, VERIFIED, event_id, at,
                         {"assessment_quarter": event.assessment_quarter, "incomes_found": len(event.incomes)})
        case EligibilityDecided():
            decision = event.model_dump(mode="json", exclude={"application", "members", "able_bodied_iins"})
            return _move(replace(application, decision=decision), APPROVED if event.eligible else REJECTED,
                         event_id, at, {"reasons": event.reasons})
        case EligibilityDeferred():
            return _move(application, DECISION_PENDING, event_id, at, {"reason": event.reason, "detail": event.detail})
        case ContractDrafted():
            return _move(replace(application, contract_id=event.contract_id), CONTRACT_DRAFTED, event_id, at,
                         {"contract_id": str(event.contract_id)})
        case ContractSigned():
            return _move(replace(application, contract_id=event.contract_id), CONTRACT_SIGNED, event_id, at,
                         {"contract_id": str(event.contract_id)})
        case PaymentScheduled():
            return _move(application, PAYMENTS_SCHEDULED, event_id, at,
                         {"payments": len(event.payments), "total": event.total})
    raise TypeError(f"intake does not follow {type(event).__name__}")


def _move(application: Application, status: str, event_id: UUID, at: datetime,
          detail: dict[str, Any]) -> tuple[Application, StatusChange | None]:
    if not can_move(application.status, status):
        return application, None
    change = StatusChange(status, at, event_id, detail)
    return replace(application, status=status, timeline=application.timeline + (change,)), change
