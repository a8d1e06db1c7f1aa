"""Applications: the family's check at the door and the status an application moves through.
Pure Python: the application's states and the rules that move it; the service loads, calls these,
saves and emits.

The check at the door also needs two pieces of reference data intake keeps itself: the banks
that pay social benefits (an administrator maintains the table) and a replica of the policy
parameters intake applies (eligibility owns them and announces each value it records)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from uuid import UUID

from schwifty import BIC, IBAN
from schwifty.exceptions import InvalidChecksumDigits, SchwiftyException

from shared.calendar import Quarter, age_on, business_date, parse_month
from shared.events.contracts import (
    ApplicationSubmitted,
    ApplicationWithdrawn,
    BankAccount,
    CaseContext,
    ContractCompleted,
    ContractDrafted,
    ContractLapsed,
    ContractSigned,
    ContractTerminated,
    EligibilityDecided,
    EligibilityDeferred,
    EligibilityExtended,
    FamilyMember,
    PaymentScheduled,
    VerificationCompleted,
    VerificationOverdue,
    VerificationWaiting,
)
from shared.iin import iin_problems, mask_iin
from shared.parameter_replica import ParameterValue, parameter_value  # noqa: F401 (intake's replica)
from shared.regions import is_registered_kato

# The statuses a citizen sees, in the order the flow reaches them.
SUBMITTED = "submitted"
# Verification waits for an external system that is down (`waiting_status`), and resumes by itself:
# a state registry, or (any other system) `waiting_for_external_system` with the system named in
# the timeline's detail.
WAITING_FOR_INCOME_REGISTRY = "waiting_for_income_registry"
WAITING_FOR_ACCOUNTS_REGISTRY = "waiting_for_accounts_registry"
WAITING_FOR_REAL_ESTATE_REGISTRY = "waiting_for_real_estate_registry"
WAITING_FOR_VEHICLE_REGISTRY = "waiting_for_vehicle_registry"
WAITING_FOR_EXTERNAL_SYSTEM = "waiting_for_external_system"
WAITING = (WAITING_FOR_INCOME_REGISTRY, WAITING_FOR_ACCOUNTS_REGISTRY, WAITING_FOR_REAL_ESTATE_REGISTRY,
           WAITING_FOR_VEHICLE_REGISTRY, WAITING_FOR_EXTERNAL_SYSTEM)
# A bank asked for the family's cash flow has not answered by its deadline: the application
# waits for it, visibly, and is never decided on missing data (the bank's answer verifies it).
VERIFICATION_OVERDUE = "verification_overdue"
VERIFIED = "verified"
DECISION_PENDING = "decision_pending"
APPROVED = "approved"
REJECTED = "rejected"
CONTRACT_DRAFTED = "contract_drafted"
CONTRACT_SIGNED = "contract_signed"
PAYMENTS_SCHEDULED = "payments_scheduled"
WITHDRAWN = "withdrawn"
# How a conditional family's case ends (issue 11): the applicant did not sign in time; the
# contract was terminated through the recipient's fault (the family is barred for `ban_months`,
# which eligibility applies, not intake); the contract ran to the end of its period.
CONTRACT_NOT_SIGNED = "contract_not_signed"
CONTRACT_TERMINATED = "contract_terminated"
COMPLETED = "completed"
# An approved application's assignment period is over (its last month has passed): set by the
# period-end sweep, or at the door when a member applies again (issue 12).
ENDED = "ended"
# Timeline entries that move no status (issue 12): a reassessment run extended the assignment to
# the next quarter (the application stays active through it), or refused to (it ends with the
# quarter it covers, the reasons given).
EXTENDED = "extended"
NOT_EXTENDED = "not_extended"

_ORDER = {s: i for i, s in enumerate(
    [SUBMITTED, WAITING_FOR_INCOME_REGISTRY, VERIFICATION_OVERDUE, VERIFIED, DECISION_PENDING, APPROVED,
     CONTRACT_DRAFTED, CONTRACT_SIGNED, PAYMENTS_SCHEDULED]
)} | {status: 1 for status in WAITING}  # every wait is one step: the latest one shows
FINAL_NEGATIVE = frozenset({REJECTED, WITHDRAWN})
# The contract's end is final too: never left, whatever arrives after it (a late
# payment.scheduled, a contract.signed reordered behind its termination).
CONTRACT_ENDED = frozenset({CONTRACT_NOT_SIGNED, CONTRACT_TERMINATED, COMPLETED})
FINAL = FINAL_NEGATIVE | CONTRACT_ENDED | {ENDED}
# Steps that follow an approval within moments of it: they show only once intake holds the
# decision behind them. (The contract's end comes days later and is final; it is never held.)
AFTER_DECISION = frozenset({CONTRACT_DRAFTED, CONTRACT_SIGNED, PAYMENTS_SCHEDULED})
# After these an application no longer blocks its members from a new one: a family whose
# contract lapsed or completed, or whose assignment period is over, may apply again at once;
# after a termination it may apply too, and eligibility refuses it with BAN_ACTIVE until the ban
# ends (the ban is a decision, with its end date given, not a refusal at the door).
INACTIVE = FINAL
# An assigned application holds its members for its assignment period only: in these statuses
# it ends (`ENDED`) once the period's last month is over.
ASSIGNED = frozenset({APPROVED, CONTRACT_DRAFTED, CONTRACT_SIGNED, PAYMENTS_SCHEDULED})
# The family may withdraw its application until any payment is scheduled: from these statuses.
WITHDRAWABLE = frozenset({SUBMITTED, *WAITING, VERIFICATION_OVERDUE, VERIFIED, DECISION_PENDING, APPROVED,
                          CONTRACT_DRAFTED})
# Why a family withdraws (a code: the event carries no free text, so no personal data).
WITHDRAWAL_REASONS = ("circumstances_changed", "no_longer_needed", "submitted_by_mistake", "moving_region", "other")

# What the flow tells intake about an application, each moving it to a status.
FlowEvent = (VerificationWaiting | VerificationOverdue | VerificationCompleted | EligibilityDecided | EligibilityDeferred
             | EligibilityExtended | ContractDrafted
             | ContractSigned | PaymentScheduled | ContractLapsed | ContractTerminated | ContractCompleted)


def waiting_status(system: str) -> str:
    """The status of an application whose verification waits for `system` (e.g. income_registry)."""
    status = f"waiting_for_{system}"
    return status if status in WAITING else WAITING_FOR_EXTERNAL_SYSTEM


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


class NotWithdrawable(ApplicationRefused):
    """The application cannot be withdrawn any more (payments are scheduled, or it has ended)."""


class NotTheApplicant(ApplicationRefused):
    """The citizen the portal acts for is not the family's applicant: a citizen applies for
    their own family only, as its applicant."""


class MissingParameter(LookupError):
    """A policy parameter the check at the door applies has no value for the day: the
    application is refused for now rather than checked against a guessed value."""

    def __init__(self, name: str, region_kato: str, on: date) -> None:
        super().__init__(f"no value of parameter '{name}' valid on {on.isoformat()} for region {region_kato} "
                         "(nor nationally)")
        self.name = name
        self.region_kato = region_kato
        self.on = on


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
    members: tuple[Member, ...]


@dataclass(frozen=True, slots=True)
class ParticipatingBank:
    """A bank that pays social benefits into its customers' accounts."""

    bic: str
    code: str  # the 3-digit Kazakh bank code: characters 5-7 of every IBAN the bank issues
    name: str
    active: bool = True


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


def period_last_day(decision: Mapping[str, Any] | None) -> date | None:
    """The last day of a positive decision's assignment period: the end of its last month paid
    (`monthly`), or of its `period_quarter`, whichever is later. None for no positive decision."""
    if not decision or not decision.get("eligible"):
        return None
    ends: list[date] = []
    if decision.get("period_quarter"):
        ends.append(Quarter.parse(decision["period_quarter"]).last_day)
    for month in decision.get("monthly") or ():
        first = parse_month(month["month"])
        ends.append(_month_end(first))
    return max(ends) if ends else None


def _month_end(first: date) -> date:
    following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return date.fromordinal(following.toordinal() - 1)


def period_over(application: Application, today: date) -> bool:
    """Whether an assigned application's period ended before `today` (a business date in
    Almaty): it no longer holds its members."""
    if application.status not in ASSIGNED:
        return False
    last = period_last_day(application.decision)
    return last is not None and last < today


def end_period(application: Application, *, at: datetime) -> tuple[Application, StatusChange]:
    """The assignment period of `application` is over at `at` (`period_over` said so): it ends."""
    last = period_last_day(application.decision)
    assert last is not None and application.status in ASSIGNED, "only an assigned application's period ends"
    change = StatusChange(ENDED, at, None, {"period_to": last.strftime("%Y-%m"),
                                            "period_quarter": (application.decision or {}).get("period_quarter")})
    return replace(application, status=ENDED, timeline=in_time_order(application.timeline + (change,))), change


def withdraw(application: Application, *, reason: str,
             at: datetime) -> tuple[Application, StatusChange, ApplicationWithdrawn]:
    """The family withdraws its application at `at`, for `reason` (one of WITHDRAWAL_REASONS):
    allowed until a payment is scheduled (NotWithdrawable after). It frees its members."""
    if reason not in WITHDRAWAL_REASONS:
        raise ValueError(f"not a withdrawal reason: {reason!r}")
    if application.status not in WITHDRAWABLE:
        raise NotWithdrawable(
            f"An application in status '{application.status}' can no longer be withdrawn: only until a payment "
            "is scheduled.", [("status", f"'{application.status}' is past withdrawal")])
    change = StatusChange(WITHDRAWN, at, None, {"reason": reason})
    withdrawn = replace(application, status=WITHDRAWN, timeline=in_time_order(application.timeline + (change,)))
    return withdrawn, change, ApplicationWithdrawn(application_id=application.id, reason=reason, withdrawn_at=at)


def can_move(current: str, new: str) -> bool:
    """Events may arrive late or twice; a status only moves forward, and a final status (negative,
    or the contract's end) is never left."""
    if current in FINAL:
        return False
    if new in FINAL:
        return True
    if new in WAITING and current in WAITING:
        return new != current  # verification waits for one system after another, in order
    return _ORDER.get(new, -1) > _ORDER.get(current, -1)


# The policy parameters intake applies itself (a replica of eligibility's values).
ADULT_AGE = "adult_age"
# Whether applications dated on a day must have every adult's consent to the expense check
# (services/intake/consent.py).
CONSENT_REQUIRED = "consent_required"
REPLICATED_PARAMETERS = frozenset({ADULT_AGE, CONSENT_REQUIRED})


def replica_value_problem(name: str, value: object) -> str | None:
    """Why `value` cannot be a value of the replicated parameter `name`, or None."""
    if name == ADULT_AGE:
        age = _whole_number(value)
        return None if age is not None and 0 <= age <= 100 else "must be a whole number of years between 0 and 100"
    if name == CONSENT_REQUIRED:
        return None if isinstance(value, bool) else "must be true or false"
    return f"intake does not apply parameter '{name}'"


def _whole_number(value: object) -> int | None:
    if not isinstance(value, str):
        return None
    try:
        number = Decimal(value)
    except InvalidOperation:
        return None
    return int(number) if number.is_finite() and number == number.to_integral_value() else None


def adult_age(values: Collection[ParameterValue], region_kato: str, on: date) -> int:
    value = parameter_value(values, ADULT_AGE, region_kato, on)
    age = _whole_number(value)
    if age is None:
        raise MissingParameter(ADULT_AGE, region_kato, on)
    return age


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


def applicant_age_problems(members: Collection[Member], today: date, adult: int) -> list[tuple[str, str]]:
    """The applicant speaks and signs for the family: an adult by the policy's `adult_age`."""
    return [(f"members[{i}].birth_date", f"the applicant must be at least {adult} years old on the application date")
            for i, m in enumerate(members)
            if m.relation == "applicant" and m.birth_date <= today and age_on(m.birth_date, today) < adult]


def bank_account_problems(iban: str, bic: str, banks: Mapping[str, ParticipatingBank]) -> list[tuple[str, str]]:
    """The benefit is paid into this account: a valid Kazakh IBAN (ISO 13616 check digits) at a
    bank that pays social benefits, named by its BIC. `banks`: the participating banks by BIC."""
    try:
        account = IBAN(iban, validate_bban=True)
    except InvalidChecksumDigits:
        return [("bank_account.iban", "the check digits are wrong (ISO 13616 mod 97): a digit is mistyped")]
    except SchwiftyException as error:
        return [("bank_account.iban", f"not a valid IBAN: {str(error).lower()}")]
    if account.country_code != "KZ":
        return [("bank_account.iban", "must be a Kazakh IBAN (KZ...)")]
    bank = banks.get(bic)
    if bank is None or not bank.active:
        return [("bank_account.bank_code", f"{bic} is not a bank that pays social benefits")]
    code = account.bank_code
    if code != bank.code:
        owner = next((b for b in banks.values() if b.code == code and b.active), None)
        named = f"{owner.bic} ({owner.name})" if owner else _registered_bank(account)
        return [("bank_account.bank_code", f"the IBAN is an account at bank code {code}, {named}; "
                                           f"{bic} is bank code {bank.code}")]
    return []


def _registered_bank(account: IBAN) -> str:
    """The bank a Kazakh bank code names in the national registry (schwifty ships it)."""
    try:
        bic = account.bic
    except SchwiftyException:
        bic = None
    if bic is None:
        return "which no bank in the registry has"
    return f"{bic} ({account.bank_name}), which does not pay social benefits"


def bank_record_problems(bank: ParticipatingBank) -> list[tuple[str, str]]:
    """An administrator's record of a bank agrees with the national bank registry where the
    registry knows the BIC (a BIC it does not know yet — a new or renamed bank — is taken as
    recorded)."""
    try:
        registered = BIC(bank.bic).domestic_bank_codes
    except SchwiftyException as error:
        return [("path.bic", f"not a valid BIC: {str(error).lower()}")]
    if registered and bank.code not in registered:
        return [("code", f"the national bank registry gives {bank.bic} bank code {', '.join(registered)}")]
    return []


def application_problems(form: ApplicationForm, today: date,
                         banks: Mapping[str, ParticipatingBank]) -> list[tuple[str, str]]:
    problems = family_problems(form.members, today)
    if not is_registered_kato(form.region_kato):
        problems.append(("region_kato", "not a code of the KATO classifier"))
    problems += bank_account_problems(form.bank_iban, form.bank_code, banks)
    return problems


def refuse_members_on_active_applications(members: Collection[Member], taken: Collection[str]) -> None:
    """One active application per person. `taken`: IINs already on an active application."""
    iins = [m.iin for m in members]
    on_active = sorted(set(iins) & set(taken))
    if on_active:
        raise ActiveApplicationExists(
            "A member already has an active application; it must be decided or withdrawn first.",
            [(f"members[{iins.index(i)}].iin", f"{mask_iin(i)} already has an active application") for i in on_active],
        )


def refuse_unless_applicant(members: Collection[Member], citizen_iin: str) -> None:
    """A citizen submits for their own family, as its applicant (they will sign its contract)."""
    if not any(m.relation == "applicant" and m.iin == citizen_iin for m in members):
        raise NotTheApplicant(
            "The citizen the portal acts for must be the family's applicant.",
            [("members", "the member with relation 'applicant' must be the citizen the portal acts for")],
        )


def submit(form: ApplicationForm, *, submitted_by: str, at: datetime, members_on_active_applications: Collection[str],
           banks: Mapping[str, ParticipatingBank], parameters: Collection[ParameterValue],
           new_id: Callable[[], UUID]) -> tuple[Application, ApplicationSubmitted]:
    """A family applies at `at`; its application date is that day in Almaty.
    `members_on_active_applications`: the IINs of the form already on an active application;
    `banks`: the participating banks by BIC; `parameters`: the replica of the policy parameters.
    A new application is never an extension: the system opens those itself."""
    today = business_date(at)
    problems = application_problems(form, today, banks)
    if problems:
        raise InvalidApplication(f"The family as submitted cannot be accepted ({len(problems)} problem(s)).", problems)
    problems = applicant_age_problems(form.members, today, adult_age(parameters, form.region_kato, today))
    if problems:
        raise InvalidApplication(f"The family as submitted cannot be accepted ({len(problems)} problem(s)).", problems)
    refuse_members_on_active_applications(form.members, members_on_active_applications)
    application = Application(
        id=new_id(),
        status=SUBMITTED,
        channel=form.channel,
        region_kato=form.region_kato,
        settlement=form.settlement,
        application_date=today,
        extension=False,
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
    """The application as the flow reports `event` about it, which happened at `at` (the event's
    own time): facts it carries (the decision, the contract) are kept, and the status moves if it
    moves forward. Every event is kept in the timeline in the order the events happened, also one
    that arrives after a later one (the services report in parallel) and so no longer moves the
    status. The change is None only for an event the timeline holds already (delivered twice)."""
    match event:
        case VerificationWaiting():
            return _move(application, waiting_status(event.system), event_id, at,
                         {"system": event.system, "since": event.since.isoformat(), "attempts": event.attempts})
        case VerificationOverdue():
            return _move(application, VERIFICATION_OVERDUE, event_id, at,
                         {"banks": list(event.banks), "deadline": event.deadline.isoformat()})
        case VerificationCompleted():
            return _move(application, VERIFIED, event_id, at,
                         {"assessment_quarter": event.assessment_quarter, "incomes_found": len(event.incomes)})
        case EligibilityDecided():
            decision = event.model_dump(mode="json", exclude={"application", "members", "able_bodied_iins"})
            decided, change = _move(replace(application, decision=decision), APPROVED if event.eligible else REJECTED,
                                    event_id, at, {"reasons": event.reasons})
            return _release_held(decided), change
        case EligibilityExtended():
            return _extended(application, event, event_id, at)
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
        case ContractLapsed():
            return _move(replace(application, contract_id=event.contract_id), CONTRACT_NOT_SIGNED, event_id, at,
                         {"contract_id": str(event.contract_id), "lapsed_at": event.lapsed_at.isoformat()})
        case ContractTerminated():
            # No IIN in the timeline: the family is on the application already.
            return _move(replace(application, contract_id=event.contract_id), CONTRACT_TERMINATED, event_id, at,
                         {"contract_id": str(event.contract_id), "terminated_on": event.terminated_on.isoformat(),
                          "reason": event.reason})
        case ContractCompleted():
            return _move(replace(application, contract_id=event.contract_id), COMPLETED, event_id, at,
                         {"contract_id": str(event.contract_id), "completed_on": event.completed_on.isoformat()})
    raise TypeError(f"intake does not follow {type(event).__name__}")


def _extended(application: Application, event: EligibilityExtended, event_id: UUID,
              at: datetime) -> tuple[Application, StatusChange | None]:
    """A reassessment run's decision for the next quarter. Extended: the decision kept is the
    extension's (its quarter and months), so the application stays active through the new quarter
    and the period-end sweep ends it only after that. Refused: the decision of the quarter it
    covers stays, so it ends with that quarter; the timeline gives the reasons. No status moves."""
    if any(c.event_id == event_id for c in application.timeline):
        return application, None
    detail: dict[str, Any] = {"period_quarter": event.period_quarter, "decision_id": str(event.decision_id),
                              "reasons": list(event.reasons)}
    if event.eligible:
        monthly = [m.model_dump(mode="json") for m in event.monthly]
        decision = dict(application.decision or {}) | {
            "decision_id": str(event.decision_id), "eligible": True, "kind": event.kind, "extension": True,
            "period_quarter": event.period_quarter, "monthly": monthly, "reasons": list(event.reasons)}
        application = replace(application, decision=decision)
        detail |= {"total": sum(m.total for m in event.monthly), "contract_carried_over": event.contract_carried_over}
    change = StatusChange(EXTENDED if event.eligible else NOT_EXTENDED, at, event_id, detail)
    return replace(application, timeline=in_time_order(application.timeline + (change,))), change


def _move(application: Application, status: str, event_id: UUID, at: datetime,
          detail: dict[str, Any]) -> tuple[Application, StatusChange | None]:
    if any(c.event_id == event_id for c in application.timeline):
        return application, None
    change = StatusChange(status, at, event_id, detail)
    timeline = in_time_order(application.timeline + (change,))
    moved = status if _may_show(application, status) else application.status
    return replace(application, status=moved, timeline=timeline), change


def _may_show(application: Application, status: str) -> bool:
    """A step the decision caused (a contract, payments) is held in the timeline until intake has
    the decision itself: the services report in parallel, so `contract.drafted` can arrive before
    the `eligibility.decided` behind it, and the citizen must never see a contract without the
    decision."""
    if status in AFTER_DECISION and application.decision is None:
        return False
    return can_move(application.status, status)


def _release_held(application: Application) -> Application:
    """Once the decision is applied, the steps it caused that arrived before it move the status."""
    status = application.status
    for change in application.timeline:
        if change.status in AFTER_DECISION and can_move(status, change.status):
            status = change.status
    return replace(application, status=status)


def in_time_order(timeline: Collection[StatusChange]) -> tuple[StatusChange, ...]:
    """The timeline ordered by when each status event happened (stable: the submission first,
    and events of the same instant in the order they arrived)."""
    return tuple(sorted(timeline, key=lambda change: change.at))


# What a Family Development Centre (FDC) is told about a person: where their targeted social
# assistance stands, not the family's file.
NONE = "none"
TSA_STATUS = {
    SUBMITTED: "applying", **{waiting: "applying" for waiting in WAITING}, VERIFICATION_OVERDUE: "applying",
    VERIFIED: "applying",
    DECISION_PENDING: "applying",
    APPROVED: "approved", CONTRACT_DRAFTED: "approved", CONTRACT_SIGNED: "approved",
    PAYMENTS_SCHEDULED: "paid",
    REJECTED: "rejected", WITHDRAWN: "withdrawn",
    CONTRACT_NOT_SIGNED: "ended", CONTRACT_TERMINATED: "terminated", COMPLETED: "ended", ENDED: "ended",
}


@dataclass(frozen=True, slots=True)
class TsaStatus:
    status: str  # none | applying | approved | paid | rejected | withdrawn | terminated | ended
    application_id: UUID | None = None
    application_status: str | None = None
    period_quarter: str | None = None
    period_from: str | None = None  # YYYY-MM, the first month paid
    period_to: str | None = None
    monthly_amount: int | None = None  # tenge, the first month's total (TSA and child supplement)


def tsa_status(latest: Application | None) -> TsaStatus:
    """A person's TSA status from the latest application they are a member of (None: never applied)."""
    if latest is None:
        return TsaStatus(NONE)
    decision = latest.decision or {}
    monthly = (decision.get("monthly") or []) if decision.get("eligible") else []
    return TsaStatus(
        status=TSA_STATUS[latest.status],
        application_id=latest.id,
        application_status=latest.status,
        period_quarter=decision.get("period_quarter") if monthly else None,
        period_from=monthly[0]["month"] if monthly else None,
        period_to=monthly[-1]["month"] if monthly else None,
        monthly_amount=monthly[0]["total"] if monthly else None,
    )
