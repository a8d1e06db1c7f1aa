"""Event contracts. Every producer builds these models and every consumer validates with them.

A change that is not backward compatible gets a new version of the same type; consumers keep
reading the old one until no producer emits it.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from shared.events.envelope import register

Sex = Literal["male", "female"]
Relation = Literal["applicant", "spouse", "child", "parent", "sibling", "grandparent", "grandchild", "other"]
Settlement = Literal["urban", "rural"]
Kind = Literal["conditional", "unconditional"]
ConsentMethod = Literal["sms_1414", "portal"]
ConsentStatus = Literal["requested", "granted", "refused", "expired", "withdrawn"]
# Where the family as a whole stands: bank data may be read only once every adult has granted.
FamilyConsent = Literal["pending", "granted", "not_given"]

TOPICS = {
    "intake": "qamqor.intake",
    "verification": "qamqor.verification",
    "eligibility": "qamqor.eligibility",
    "contracts": "qamqor.contracts",
    "payments": "qamqor.payments",
}
DEAD_LETTER_TOPIC = "qamqor.dead-letter"


class _Contract(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class BankAccount(_Contract):
    iban: str
    bank_code: str


class FamilyMember(_Contract):
    iin: str
    full_name: str
    birth_date: date
    sex: Sex
    relation: Relation
    employed: bool = False
    full_time_student: bool = False
    disability_group: int | None = None
    carer: bool = False


class CaseContext(_Contract):
    """What every later step needs to know about the application, carried along the flow so no
    service has to call another to learn it."""

    application_id: UUID
    application_date: date
    region_kato: str
    settlement: Settlement
    channel: str
    extension: bool = False
    bank_account: BankAccount


class IncomeRecord(_Contract):
    iin: str
    type: str
    month: str  # YYYY-MM
    amount: Decimal
    source: str = "income_registry"


class MonthlyAmount(_Contract):
    month: str  # YYYY-MM
    tsa: int
    child_supplement: int
    total: int


@register("application.submitted", 1)
class ApplicationSubmitted(_Contract):
    application: CaseContext
    expense_check_consent: bool
    members: list[FamilyMember]
    # Every adult must consent to the expense check on the application date (policy parameter
    # `consent_required`): verification asks no bank before the family's consent is granted, and
    # freezes no evidence before the family's consent is settled. False on events from before
    # issue 10 (no consent was asked then).
    consent_required: bool = False


@register("application.withdrawn", 1)
class ApplicationWithdrawn(_Contract):
    """The family withdrew its application before any payment was scheduled; its members are
    free to apply again. `reason` is a code (intake's withdrawal reasons), never free text."""

    application_id: UUID
    reason: str
    withdrawn_at: datetime


class PurchaseRecord(_Contract):
    """A home or a vehicle registered to a member in the assessment quarter (rules.md E1)."""

    iin: str
    registry: Literal["real-estate", "vehicle"]
    kind: str  # apartment | house | car
    date: date


class ExpenseFacts(_Contract):
    """The family's expenses over the assessment quarter, as frozen in the evidence (rules.md
    E1–E4): `consent` False when an adult refused, let the deadline pass or withdrew — then no
    bank was asked and the aggregates are zero. Aggregates are the sums over every member's
    accounts at every bank that answered (tenge)."""

    consent: bool
    purchases: list[PurchaseRecord] = []
    account_spending: Decimal = Decimal(0)
    non_mortgage_loans: Decimal = Decimal(0)
    savings_deposits: Decimal = Decimal(0)  # at the end of the quarter, housing/mortgage deposits apart


@register("verification.completed", 1)
class VerificationCompleted(_Contract):
    application: CaseContext
    evidence_id: UUID
    assessment_quarter: str
    members: list[FamilyMember]
    incomes: list[IncomeRecord]
    # None when the family's expenses were not checked (consent not required on the application
    # date, or evidence gathered before issue 10).
    expenses: ExpenseFacts | None = None


@register("eligibility.decided", 1)
class EligibilityDecided(_Contract):
    application: CaseContext
    decision_id: UUID
    eligible: bool
    kind: Kind
    assessment_quarter: str
    period_quarter: str
    poverty_line: int
    per_capita_income: Decimal
    monthly: list[MonthlyAmount]
    reasons: list[str]
    rules_version: str
    members: list[FamilyMember]
    # Members the social contract binds (rules.md: able-bodied test), decided by eligibility.
    able_bodied_iins: list[str] = []


@register("eligibility.deferred", 1)
class EligibilityDeferred(_Contract):
    """No decision can be made yet (a parameter has no value for the dates the case needs); the
    application waits and is decided as soon as the value is recorded."""

    application: CaseContext
    reason: str  # MISSING_PARAMETER
    detail: str


@register("parameter.recorded", 1)
class ParameterRecorded(_Contract):
    """An administrator recorded an effective-dated parameter value (eligibility owns them).
    Other services keep a replica of the few they apply themselves, e.g. intake's check that an
    applicant is an adult (`adult_age`). `value`: a decimal as text, a bool, or a list of words."""

    parameter_id: UUID
    name: str
    region_kato: str | None
    valid_from: date
    valid_to: date | None
    value: str | bool | list[str]
    recorded_at: datetime


class Obligation(_Contract):
    iin: str
    measure: str  # stay_employed | job_placement | public_works | training | entrepreneurship_grant


@register("contract.drafted", 1)
class ContractDrafted(_Contract):
    contract_id: UUID
    application_id: UUID
    decision_id: UUID
    obligations: list[Obligation]


@register("contract.signed", 1)
class ContractSigned(_Contract):
    contract_id: UUID
    application_id: UUID
    decision_id: UUID
    signed_at: datetime


@register("contract.terminated", 1)
class ContractTerminated(_Contract):
    """The social contract ended through the recipient's fault (rules.md, Social contract; art.
    128): a refusal of employment measures by an able-bodied member, or non-fulfilment decided by
    a case worker. Payments stop for the whole family from the month after `terminated_on`;
    every member in `member_iins` is barred from a new assignment until `terminated_on` plus
    `ban_months` (eligibility applies the length in force on that day)."""

    contract_id: UUID
    application_id: UUID
    terminated_on: date
    reason: Literal["refused_measures", "non_fulfilment"]
    member_iins: list[str]


@register("contract.lapsed", 1)
class ContractLapsed(_Contract):
    """The applicant did not sign within the deadline (policy parameter, business days): no
    payment is made and the application ends as `contract_not_signed`."""

    contract_id: UUID
    application_id: UUID
    lapsed_at: datetime


@register("contract.completed", 1)
class ContractCompleted(_Contract):
    """The contract ran to the end of its assignment period."""

    contract_id: UUID
    application_id: UUID
    completed_on: date


class ScheduledPayment(_Contract):
    payment_id: UUID
    month: str
    tsa: int
    child_supplement: int
    total: int


@register("payment.scheduled", 1)
class PaymentScheduled(_Contract):
    application_id: UUID
    decision_id: UUID
    region_kato: str
    settlement: Settlement
    bank_code: str
    payments: list[ScheduledPayment]
    total: int


@register("payment.settled", 1)
class PaymentSettled(_Contract):
    payment_id: UUID
    application_id: UUID
    month: str
    total: int
    bank_code: str


@register("payment.failed", 1)
class PaymentFailed(_Contract):
    payment_id: UUID
    application_id: UUID
    month: str
    total: int
    bank_code: str
    reason: str


@register("verification.waiting", 1)
class VerificationWaiting(_Contract):
    """The application waits for an external system that is down or does not answer (`system`,
    e.g. `income_registry`) and is verified by itself as soon as the system answers again:
    verification retries with backoff, and gives up visibly (a dead letter) only after its
    configured time. Announced once, when the wait starts. No personal data."""

    application_id: UUID
    system: str
    since: datetime
    attempts: int  # calls that failed so far (0: not called, the system was already known to be down)


@register("verification.overdue", 1)
class VerificationOverdue(_Contract):
    """A bank asked for a family's cash-flow aggregates has not answered by the deadline
    (`bank_deadline_business_days`): the application stays visibly waiting — it is never decided
    on missing data — until the answer arrives. `banks`: the codes still silent. No personal data."""

    application_id: UUID
    banks: list[str]
    asked_at: datetime
    deadline: datetime


@register("reconciliation.requested", 1)
class ReconciliationRequested(_Contract):
    """Intake's reconciliation sweep found an application that made no progress in `status`
    within its time limit and asks the services in `redrive` to re-publish their latest events
    for it (the same event ids: a consumer that had them ignores them). `owner` is the service
    expected to take the next step; `attempt` counts the re-drives of this status, at most
    `max_attempts` (after the last one the application is left to an operator)."""

    application_id: UUID
    status: str
    owner: str
    redrive: list[str]
    attempt: int
    max_attempts: int
    stuck_since: datetime


class ConsentRecord(_Contract):
    """One adult member's consent to the expense check, with the fields of an ISO/IEC TS 27560
    consent record. Neither the member's phone nor the one-time code ever travels."""

    consent_id: UUID
    application_id: UUID
    iin: str
    purpose: str  # tsa_expense_check
    data_categories: list[str]
    assessment_quarter: str  # the quarter whose bank data the consent covers (YYYY-Qn)
    controller: str
    legal_basis: str
    # Bank codes of the banks concerned; empty until verification has asked the accounts registry.
    banks: list[str]
    method: ConsentMethod
    status: ConsentStatus
    requested_at: datetime
    expires_at: datetime  # the end of the next business day in Almaty: an answer counts before it
    answered_at: datetime | None = None
    answered_via: Literal["sms", "portal"] | None = None
    withdrawn_at: datetime | None = None


@register("consent.requested", 1)
class ConsentRequested(_Contract):
    """An adult member was asked to consent (the SMS from 1414 was handed to the SMS gateway, or
    the request awaits the member in the portal). `family_consent`: the application's consent as
    a whole after this change."""

    consent: ConsentRecord
    family_consent: FamilyConsent


@register("consent.granted", 1)
class ConsentGranted(_Contract):
    consent: ConsentRecord
    family_consent: FamilyConsent


@register("consent.refused", 1)
class ConsentRefused(_Contract):
    consent: ConsentRecord
    family_consent: FamilyConsent


@register("consent.expired", 1)
class ConsentExpired(_Contract):
    """The member did not answer by the deadline: as a refusal (rules.md: CONSENT_NOT_GIVEN)."""

    consent: ConsentRecord
    family_consent: FamilyConsent


@register("consent.withdrawn", 1)
class ConsentWithdrawn(_Contract):
    """The member withdrew a consent given, before the application was decided."""

    consent: ConsentRecord
    family_consent: FamilyConsent


@register("fdc.invitation.issued", 1)
class FdcInvitationIssued(_Contract):
    """Intake invited a family the Family Digital Card flagged (issue 13, docs/fdc.md): the
    invitation is stored, its SMS leaves after the commit and the portal shows the notice. For
    the funnel: where and how the family was invited, never who (no IIN, name or phone)."""

    invitation_id: UUID
    quarter: str  # the quarter invited in (YYYY-Qn): one invitation per family and quarter
    region_kato: str
    settlement: Settlement
    channel: str  # e.g. fdc_sms (the SMS with the portal notice beside it)
    category: str | None = None  # D | E | low_income, as the FDC flagged the family
    members: int
    invited_at: datetime
    apply_by: date  # the last day an application counts as the invitation's conversion


@register("fdc.invitation.converted", 1)
class FdcInvitationConverted(_Contract):
    """An application containing an invited person was submitted within the invitation's window
    and is linked to it (in the submission's transaction). No personal data."""

    invitation_id: UUID
    application_id: UUID
    quarter: str  # the invitation's quarter
    region_kato: str  # the invitation's region
    channel: str
    applied_at: datetime
