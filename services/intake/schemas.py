"""Intake's HTTP contract: request bodies (every one an `InputModel`: unknown fields and control
characters refused), the answers, and the problems each route really returns.

What an answer shows of a family depends on who asks (shared.access):
- the citizen the portal acts for sees their own family in full, phones included;
- a case worker sees the families of their regions in full, phones masked;
- ops see every family masked: IIN `7910******28`, name `A. S.`, birth date null, phone masked.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from services.intake import consent, domain
from shared.problems import problems as shared_problems
from shared.access import mask_name, mask_phone
from shared.business_days import DayStatus, DecreedDay
from shared.errors import PROBLEM_BASE
from shared.events.contracts import Relation, Settlement, Sex
from shared.iin import has_valid_check_digit, mask_iin
from shared.inputs import CONTROL_MESSAGE, InputModel, RegisteredKato, has_control_character


def _iin_check_digit(iin: str) -> str:
    if not has_valid_check_digit(iin):
        raise ValueError("IIN check digit is wrong")
    return iin


def _not_blank(text: str) -> str:
    trimmed = text.strip()
    if not trimmed:
        raise ValueError("must not be blank")
    return trimmed


# Reusable field types: the same check wherever the value comes in (body, query or path).
Iin = Annotated[str, Field(pattern=r"^\d{12}$", description="Individual identification number (12 digits)",
                           examples=["900517401231"]), AfterValidator(_iin_check_digit)]
Bic = Annotated[str, Field(pattern=r"^[A-Z]{4}KZ[A-Z0-9]{2}$", description="BIC of a Kazakh bank (8 characters)",
                           examples=["HSBKKZKX"])]

def _iso_day(value: Any) -> Any:
    """A day is written YYYY-MM-DD and nothing else (not a timestamp pydantic would also take)."""
    if isinstance(value, str) and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise ValueError("must be a date written YYYY-MM-DD")
    return value


# The years the business calendar answers for: the `holidays` package's Kazakhstan is known
# there, and a day outside them is a typo, not a decree.
CALENDAR_FIRST, CALENDAR_LAST = date(2000, 1, 1), date(2099, 12, 31)


def _calendar_day(day: date) -> date:
    if not CALENDAR_FIRST <= day <= CALENDAR_LAST:
        raise ValueError(f"must be between {CALENDAR_FIRST.isoformat()} and {CALENDAR_LAST.isoformat()}")
    return day


CalendarDay = Annotated[date, BeforeValidator(_iso_day), AfterValidator(_calendar_day),
                        Field(description="A day, YYYY-MM-DD (2000-2099)", examples=["2026-11-20"])]
PersonName = Annotated[str, Field(min_length=1, max_length=200, description="Full name; not blank",
                                  examples=["Aigul Serikovna Nurlanova"]), AfterValidator(_not_blank)]
ApplicationStatus = Literal["submitted", "waiting_for_income_registry", "waiting_for_accounts_registry",
                            "waiting_for_real_estate_registry", "waiting_for_vehicle_registry",
                            "waiting_for_external_system", "verification_overdue", "verified",
                            "decision_pending", "approved", "rejected", "contract_drafted", "contract_signed", "payments_scheduled", "withdrawn",
                            "contract_not_signed", "contract_terminated", "completed", "ended"]

_APPLICANT = {"iin": "900517401231", "full_name": "Aigul Serikovna Nurlanova", "birth_date": "1990-05-17",
              "sex": "female", "relation": "applicant", "phone": "+77011234567", "employed": False,
              "full_time_student": False, "disability_group": None, "carer": False}
_CHILD = {"iin": "210302504566", "full_name": "Timur Nurlanov", "birth_date": "2021-03-02", "sex": "male",
          "relation": "child", "phone": None, "employed": False, "full_time_student": False,
          "disability_group": None, "carer": False}
HALYK_IBAN = "KZ20601KZT5004100100"


# ---- requests -----------------------------------------------------------------------------


class BankAccountIn(InputModel):
    iban: str = Field(pattern=r"^KZ\d{2}[0-9A-Z]{16}$", examples=[HALYK_IBAN],
                      description="Kazakh IBAN, 20 characters without spaces; its check digits (ISO 13616 "
                                  "mod 97) must hold and its bank code (characters 5-7) must be the bank named "
                                  "by `bank_code`")
    bank_code: Bic = Field(description="BIC of a bank that pays social benefits (GET /v1/reference/banks)")


class MemberIn(InputModel):
    iin: Iin
    full_name: PersonName
    birth_date: date = Field(description="Must match the IIN; the applicant must be an adult (policy parameter "
                                         "`adult_age`) on the application date")
    sex: Sex = Field(description="Must match the IIN")
    relation: Relation = Field(description="Exactly one member is the applicant: the citizen the portal acts for")
    phone: str | None = Field(default=None, pattern=r"^\+7\d{10}$", examples=["+77011234567"])
    employed: bool = False
    full_time_student: bool = False
    disability_group: Literal[1, 2, 3] | None = None
    carer: bool = False


class ApplicationIn(InputModel):
    """A family applies. `extension` is not accepted: the system sets it."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "channel": "egov", "region_kato": "610000000", "settlement": "urban",
        "bank_account": {"iban": HALYK_IBAN, "bank_code": "HSBKKZKX"}, "expense_check_consent": True,
        "members": [_APPLICANT, _CHILD],
    }]})

    channel: Literal["egov", "fdc", "office"]
    region_kato: RegisteredKato
    settlement: Settlement
    bank_account: BankAccountIn
    expense_check_consent: bool = False
    members: list[MemberIn] = Field(min_length=1, max_length=30)

    def to_form(self) -> domain.ApplicationForm:
        return domain.ApplicationForm(
            channel=self.channel, region_kato=self.region_kato, settlement=self.settlement,
            bank_iban=self.bank_account.iban, bank_code=self.bank_account.bank_code,
            expense_check_consent=self.expense_check_consent,
            members=tuple(domain.Member(**m.model_dump()) for m in self.members),
        )


class BankIn(InputModel):
    """A participating bank as an administrator records it (added, renamed or deactivated)."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"code": "601", "name": "АО \"Народный Банк Казахстана\"", "active": True}]})

    code: str = Field(pattern=r"^\d{3}$", description="The 3-digit Kazakh bank code (IBAN characters 5-7)")
    name: Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_not_blank)]
    active: bool = Field(default=True, description="false: accounts at this bank are no longer accepted")


class DecreeIn(InputModel):
    """A day the government decreed non-working (`working: false`) or working (`working: true`,
    e.g. the Saturday worked for a bridge day), as an administrator records it."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"working": False, "reason": "Government decree No. 123 of 2026-11-20"}]})

    working: bool
    reason: Annotated[str, Field(min_length=1, max_length=500, description="The decree, for whoever reads the "
                                                                           "calendar"), AfterValidator(_not_blank)]


# ---- answers ------------------------------------------------------------------------------


class ConsentOut(BaseModel):
    """The member's consent to the expense check (docs/consent.md): an ISO/IEC TS 27560 record,
    without the code; the number asked is always masked."""

    id: UUID = Field(description="The request the portal answers (`POST /v1/consents/{id}/reply`) or withdraws")
    status: Literal["requested", "granted", "refused", "expired", "withdrawn"]
    method: Literal["sms_1414", "portal"]
    phone: str | None = Field(description="The number the SMS from 1414 went to, masked (`+7701*****67`)")
    purpose: str
    data_categories: list[str]
    assessment_quarter: str
    banks: list[str]
    requested_at: datetime | None = Field(description="When the member was asked (null: the SMS is not sent yet)")
    expires_at: datetime | None = Field(description="An answer counts strictly before it")
    answered_at: datetime | None
    answered_via: Literal["sms", "portal"] | None
    withdrawn_at: datetime | None

    @classmethod
    def of(cls, request: consent.ConsentRequest) -> ConsentOut:
        return cls(id=request.id, status=request.status, method=request.method,  # type: ignore[arg-type]
                   phone=mask_phone(request.phone), purpose=request.purpose,
                   data_categories=list(request.data_categories), assessment_quarter=request.assessment_quarter,
                   banks=list(request.banks), requested_at=request.requested_at, expires_at=request.expires_at,
                   answered_at=request.answered_at, answered_via=request.answered_via,  # type: ignore[arg-type]
                   withdrawn_at=request.withdrawn_at)


class MemberOut(BaseModel):
    iin: str = Field(description="12 digits; masked (`9005******31`) in a masked view")
    full_name: str = Field(description="Initials only (`A. S. N.`) in a masked view")
    birth_date: date | None = Field(description="null in a masked view")
    sex: Sex
    relation: Relation
    phone: str | None = Field(description="In clear only to the citizen of this family; masked (`+7701*****67`) "
                                          "for every other caller who may see the family")
    employed: bool
    full_time_student: bool
    disability_group: int | None
    carer: bool
    consent: ConsentOut | None = Field(default=None, description="The member's consent to the expense check; null "
                                                                 "for a member not asked (under the adult age, or "
                                                                 "not required on the application date)")

    @classmethod
    def of(cls, member: domain.Member, *, masked: bool, phone_in_clear: bool,
           consent_request: consent.ConsentRequest | None = None) -> MemberOut:
        return cls(
            iin=mask_iin(member.iin) if masked else member.iin,
            full_name=mask_name(member.full_name) if masked else member.full_name,
            birth_date=None if masked else member.birth_date,
            sex=member.sex, relation=member.relation,  # type: ignore[arg-type]
            phone=member.phone if phone_in_clear else mask_phone(member.phone),
            employed=member.employed, full_time_student=member.full_time_student,
            disability_group=member.disability_group, carer=member.carer,
            consent=ConsentOut.of(consent_request) if consent_request is not None else None,
        )


# What a timeline entry may say: a status, or (issue 12) a reassessment run's extension or refusal
# to extend, which move no status.
TimelineStatus = Literal[ApplicationStatus, Literal["extended", "not_extended"]]  # type: ignore[valid-type]


class StatusChangeOut(BaseModel):
    status: TimelineStatus
    at: datetime
    detail: dict[str, Any] | None = None


class ApplicationOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", "status": "submitted", "channel": "egov",
        "region_kato": "610000000", "settlement": "urban", "application_date": "2026-04-01", "extension": False,
        "expense_check_consent": True, "submitted_at": "2026-03-31T20:00:00Z", "masked": False,
        "members": [_APPLICANT, _CHILD],
        "timeline": [{"status": "submitted", "at": "2026-03-31T20:00:00Z", "detail": None}],
        "decision": None, "contract_id": None,
    }, {
        "id": "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", "status": "submitted", "channel": "egov",
        "region_kato": "610000000", "settlement": "urban", "application_date": "2026-04-01", "extension": False,
        "expense_check_consent": True, "submitted_at": "2026-03-31T20:00:00Z", "masked": True,
        "members": [_APPLICANT | {"iin": "9005******31", "full_name": "A. S. N.", "birth_date": None,
                                  "phone": "+7701*****67"},
                    _CHILD | {"iin": "2103******66", "full_name": "T. N.", "birth_date": None}],
        "timeline": [{"status": "submitted", "at": "2026-03-31T20:00:00Z", "detail": None}],
        "decision": None, "contract_id": None,
    }]})

    id: UUID
    status: ApplicationStatus
    channel: str
    region_kato: str
    settlement: Settlement
    application_date: date
    extension: bool = Field(description="Set by the system: the application continues an assigned benefit")
    expense_check_consent: bool
    submitted_at: datetime
    masked: bool = Field(description="true: the caller's view masks personal data (IINs, names, birth dates, "
                                     "phones)")
    members: list[MemberOut]
    timeline: list[StatusChangeOut]
    decision: dict[str, Any] | None
    contract_id: UUID | None
    family_consent: Literal["pending", "granted", "not_given", "not_required"] | None = Field(
        default=None, description="Every adult's consent together: `not_given` once one refused, let it expire or "
                                  "withdrew; `granted` when all granted (null in lists)")

    @classmethod
    def of(cls, application: domain.Application, *, masked: bool, phones_in_clear: bool,
           consents: list[consent.ConsentRequest] | None = None) -> ApplicationOut:
        by_iin = {c.iin: c for c in consents or ()}
        return cls(
            id=application.id, status=application.status,  # type: ignore[arg-type]
            channel=application.channel, region_kato=application.region_kato,
            settlement=application.settlement,  # type: ignore[arg-type]
            application_date=application.application_date, extension=application.extension,
            expense_check_consent=application.expense_check_consent, submitted_at=application.submitted_at,
            masked=masked,
            members=[MemberOut.of(m, masked=masked, phone_in_clear=phones_in_clear, consent_request=by_iin.get(m.iin))
                     for m in application.members],
            timeline=[StatusChangeOut(status=c.status, at=c.at, detail=c.detail)  # type: ignore[arg-type]
                      for c in application.timeline],
            decision=application.decision, contract_id=application.contract_id,
            family_consent=None if consents is None else (
                consent.family_consent(consents) if consents else "not_required"),  # type: ignore[arg-type]
        )


class TsaStatusOut(BaseModel):
    """Where a person's targeted social assistance stands, for a Family Development Centre."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "status": "paid", "application_id": "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
        "application_status": "payments_scheduled", "period_quarter": "2026-Q2", "period_from": "2026-04",
        "period_to": "2026-06", "monthly_amount": 25596,
    }, {"status": "none", "application_id": None, "application_status": None, "period_quarter": None,
        "period_from": None, "period_to": None, "monthly_amount": None}]})

    status: Literal["none", "applying", "approved", "paid", "rejected", "withdrawn", "terminated", "ended"] = Field(
        description="none: never applied; applying: submitted, being verified or decided; approved: assigned, "
                    "the contract not yet signed or payments not yet scheduled; paid: payments scheduled; "
                    "terminated: the social contract was terminated through the recipient's fault (a ban on a "
                    "new assignment follows); ended: the contract lapsed unsigned or ran to its period's end")
    application_id: UUID | None = Field(description="The latest application the person is a member of")
    application_status: ApplicationStatus | None
    period_quarter: str | None = Field(description="The quarter the benefit is assigned for (YYYY-Qn)")
    period_from: str | None = Field(description="The first month paid (YYYY-MM)")
    period_to: str | None = Field(description="The last month paid (YYYY-MM)")
    monthly_amount: int | None = Field(description="Tenge a month (TSA and child supplement), the first month's")

    @classmethod
    def of(cls, status: domain.TsaStatus) -> TsaStatusOut:
        return cls(status=status.status, application_id=status.application_id,  # type: ignore[arg-type]
                   application_status=status.application_status,  # type: ignore[arg-type]
                   period_quarter=status.period_quarter, period_from=status.period_from,
                   period_to=status.period_to, monthly_amount=status.monthly_amount)


class DecreeOut(BaseModel):
    """The decree as recorded: it rules its day in deadlines set from now on."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"day": "2026-12-18", "working": False, "reason": "Government decree No. 123 of 2026-11-20"}]})

    day: date
    working: bool
    reason: str

    @classmethod
    def of(cls, decree: DecreedDay) -> "DecreeOut":
        return cls(day=decree.day, working=decree.working, reason=decree.reason)


class BusinessDayOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"day": "2026-03-20", "business_day": True, "off": None, "name": None},
        {"day": "2026-03-21", "business_day": False, "off": "public_holiday", "name": "Nowruz Holiday"},
        {"day": "2026-03-28", "business_day": False, "off": "weekend", "name": None},
        {"day": "2026-12-18", "business_day": False, "off": "decree",
         "name": "Government decree No. 123 of 2026-11-20"}]})

    day: date
    business_day: bool
    off: Literal["weekend", "public_holiday", "decree"] | None = Field(
        description="Why the day is not a business day (null when it is one)")
    name: str | None = Field(description="The public holiday's name, or the decree (also for a day decreed "
                                         "working)")

    @classmethod
    def of(cls, status: DayStatus) -> "BusinessDayOut":
        return cls(day=status.day, business_day=status.business_day, off=status.off,  # type: ignore[arg-type]
                   name=status.name)


class BankOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"bic": "HSBKKZKX", "code": "601", "name": "АО \"Народный Банк Казахстана\"", "active": True}]})

    bic: str
    code: str = Field(description="The 3-digit Kazakh bank code (IBAN characters 5-7)")
    name: str
    active: bool

    @classmethod
    def of(cls, bank: domain.ParticipatingBank) -> BankOut:
        return cls(bic=bank.bic, code=bank.code, name=bank.name, active=bank.active)


# ---- problems (RFC 9457) ------------------------------------------------------------------


_DESCRIPTIONS = {
    400: "Malformed JSON, or a required header missing",
    403: "The caller may not do this: its scope, its kind, or whom it acts for",
    404: "No such application, or none the caller may see",
    409: "The request conflicts with what is recorded",
    415: "The body is not JSON",
    422: "A field is invalid; each is named",
    503: "A policy parameter the check needs has no value yet; retry later",
}


def _example(status: int, slug: str, title: str, detail: str, *errors: tuple[str, str]) -> tuple[int, dict[str, Any]]:
    value: dict[str, Any] = {"type": PROBLEM_BASE + slug, "title": title, "status": status, "detail": detail}
    if errors:
        value["errors"] = [{"field": field, "message": message} for field, message in errors]
    return status, {"summary": title, "value": value}


# The problems intake's routes answer with, by name; each route lists those it really returns.
PROBLEM_EXAMPLES: dict[str, tuple[int, dict[str, Any]]] = {
    "malformed-json": _example(400, "malformed-json", "Malformed JSON",
                               "The request body is not valid JSON: EOF while parsing an object at position 17.",
                               ("body", "EOF while parsing an object at position 17")),
    "idempotency-key-required": _example(
        400, "idempotency-key-required", "Idempotency-Key required", "This request needs an Idempotency-Key "
        "header (1-200 characters) so that a retry does not create a second record.",
        ("header.Idempotency-Key", "required, 1-200 characters")),
    "missing-scope": _example(403, "forbidden", "Forbidden", "This route needs the scope applications:read."),
    "citizen-token-required": _example(
        403, "citizen-token-required", "A citizen-bound token is required",
        "The portal reads and changes a family's case only while acting for a citizen: exchange the citizen's "
        "eGov IDP assertion for a token (POST /oauth/token, grant_type "
        "urn:ietf:params:oauth:grant-type:token-exchange)."),
    "kind-without-access": _example(403, "forbidden", "Forbidden", "A bank caller does not read families' cases."),
    "portal-only": _example(403, "portal-only", "Only the portal submits applications",
                            "Applications are submitted by the portal, acting for the citizen who applies."),
    "not-the-applicant": _example(
        403, "not-the-applicant", "Not the family's applicant",
        "The citizen the portal acts for must be the family's applicant.",
        ("members", "the member with relation 'applicant' must be the citizen the portal acts for")),
    "masked-view-no-person-search": _example(
        403, "masked-view-no-person-search", "No search by person in a masked view",
        "A masked view does not search by person: a person's applications are read by the citizen, or by a case "
        "worker of their region.", ("query.iin", "not allowed in a masked view")),
    "fdc-only": _example(403, "fdc-only", "Only a Family Development Centre looks up a status",
                         "The TSA status lookup is for Family Development Centres."),
    "admin-only": _example(403, "admin-only", "Only an administrator records a decree",
                           "Days the government decrees are recorded by an administrator."),
    "invalid-decree": _example(422, "validation-error", "Invalid input", "The request has 1 invalid field(s).",
                               ("path.day", "Value error, must be a date written YYYY-MM-DD")),
    "invalid-day-range": _example(422, "validation-error", "Invalid input",
                                  "The calendar is read at most 366 days at a time.",
                                  ("query.to", "at most 366 days from 'from' (2026-01-01)")),
    "not-found": _example(404, "not-found", "Not found", "No application 0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b."),
    "consent-not-found": _example(404, "not-found", "Not found",
                                  "No consent request 0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b."),
    "sms-gateway-only": _example(403, "sms-gateway-only", "Only the SMS gateway posts inbound SMS",
                                 "Inbound SMS are posted by the SMS gateway only."),
    "consent-portal-only": _example(403, "portal-only", "Only the portal answers for a member",
                                    "Consents are answered in the portal, acting for the member."),
    "not-the-member": _example(403, "not-the-member", "Not the member asked",
                               "Only the member asked may answer or withdraw this consent."),
    "invalid-sms": _example(422, "validation-error", "Invalid input", "The request has 1 invalid field(s).",
                            ("received_at", "Value error, must have a time zone")),
    "invalid-consent-reply": _example(422, "validation-error", "Invalid input", "The request has 1 invalid field(s).",
                                      ("answer", "Input should be 'yes' or 'no'")),
    "invalid-consent-id": _example(422, "validation-error", "Invalid input", "The request has 1 invalid field(s).",
                                   ("path.consent_id", "Input should be a valid UUID")),
    "active-application-exists": _example(
        409, "active-application-exists", "Active application exists",
        "A member already has an active application; it must be decided or withdrawn first.",
        ("members[0].iin", "9005******31 already has an active application")),
    "not-withdrawable": _example(
        409, "not-withdrawable", "Application can no longer be withdrawn",
        "An application in status 'payments_scheduled' can no longer be withdrawn: only until a payment is "
        "scheduled.", ("status", "'payments_scheduled' is past withdrawal")),
    "withdraw-portal-only": _example(403, "portal-only", "Only the portal withdraws applications",
                                     "Applications are withdrawn by the portal, acting for a member of the family."),
    "invalid-withdrawal": _example(
        422, "validation-error", "Invalid input", "The request has 1 invalid field(s).",
        ("reason", "Input should be 'circumstances_changed', 'no_longer_needed', 'submitted_by_mistake', "
                   "'moving_region' or 'other'")),
    "bank-code-taken": _example(409, "bank-code-taken", "Bank code taken",
                                "Bank code 601 belongs to another active bank; deactivate it first.",
                                ("code", "bank code 601 is HSBKKZKX's")),
    "unsupported-media-type": _example(415, "unsupported-media-type", "Unsupported media type",
                                       "The request body must be JSON (Content-Type: application/json).",
                                       ("header.Content-Type", "must be application/json")),
    "invalid-application": _example(
        422, "validation-error", "Invalid input", "The family as submitted cannot be accepted (2 problem(s)).",
        ("bank_account.bank_code", "the IBAN is an account at bank code 125, NBRKKZKX (ГУ Национальный Банк РК), "
                                   "which does not pay social benefits; HSBKKZKX is bank code 601"),
        ("members[0].birth_date", "the applicant must be at least 18 years old on the application date")),
    "extension-not-accepted": _example(422, "validation-error", "Invalid input", "The request has 1 invalid field(s).",
                                       ("extension", "Extra inputs are not permitted")),
    "idempotency-key-reused": _example(
        422, "idempotency-key-reused", "Idempotency-Key reused",
        "This Idempotency-Key was already used with a different request body.",
        ("header.Idempotency-Key", "already used with another body")),
    "invalid-query": _example(422, "validation-error", "Invalid input", "The request has 1 invalid field(s).",
                              ("query.region_kato", "Value error, not a code of the KATO classifier")),
    "invalid-application-id": _example(422, "validation-error", "Invalid input", "The request has 1 invalid field(s).",
                                       ("path.application_id", "Input should be a valid UUID")),
    "invalid-iin": _example(422, "validation-error", "Invalid input", "The request has 1 invalid field(s).",
                            ("path.iin", "Value error, IIN check digit is wrong")),
    "invalid-bank": _example(422, "validation-error", "Invalid input", "The bank cannot be recorded (1 problem(s)).",
                             ("code", "the national bank registry gives HSBKKZKX bank code 601")),
    "control-character": _example(422, "validation-error", "Invalid input", "The request has 1 invalid field(s).",
                                  ("query.status", "must not contain control characters")),
    "parameter-missing": _example(
        503, "parameter-missing", "A policy parameter has no value",
        "Intake cannot check the application now: no value of parameter 'adult_age' valid on 2026-04-01 for "
        "region 610000000 (nor nationally). An administrator of eligibility records it; try again later."),
}


def problems(*names: str) -> dict[int | str, dict[str, Any]]:
    """The `responses=` of a route: the problems (by name in PROBLEM_EXAMPLES) it really answers
    with, grouped by status."""
    when: dict[int, str] = {}
    examples: dict[int, dict[str, dict[str, Any]]] = {}
    for name in names:
        status, example = PROBLEM_EXAMPLES[name]
        when[status] = _DESCRIPTIONS[status]
        examples.setdefault(status, {})[name] = example["value"]
    return shared_problems(when, examples)


# ---- consent replies ------------------------------------------------------------------------

class SmsInboundIn(BaseModel):
    """An SMS to 1414, as the SMS gateway posts it. Unknown fields are refused; no field may hold a
    control character, except line breaks and tabs in the text (phones send them)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "message_id": "sms-0001", "from": "+77011234567", "text": "ДА 123456", "received_at": "2026-04-01T05:00:00Z"}]})
    message_id: str = Field(min_length=1, max_length=100)
    from_: str = Field(alias="from", min_length=1, max_length=20, description="The sender's number")
    text: str = Field(min_length=1, max_length=1000)
    received_at: datetime = Field(description="When the SMS gateway received the SMS (with a time zone)")

    @field_validator("message_id", "from_")
    @classmethod
    def _no_control_characters(cls, value: str) -> str:
        if has_control_character(value):
            raise ValueError(CONTROL_MESSAGE)
        return value

    @field_validator("text")
    @classmethod
    def _no_control_characters_but_line_breaks(cls, value: str) -> str:
        if has_control_character(value.replace("\n", " ").replace("\r", " ").replace("\t", " ")):
            raise ValueError(CONTROL_MESSAGE)
        return value

    @field_validator("received_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("must have a time zone")
        return value


WithdrawalReason = Literal["circumstances_changed", "no_longer_needed", "submitted_by_mistake", "moving_region",
                           "other"]


class WithdrawalIn(InputModel):
    """The family withdraws its application (before any payment is scheduled). The reason is a
    code, not free text: the event announcing the withdrawal carries it, and no personal data."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"reason": "circumstances_changed"}]})
    reason: WithdrawalReason


class ConsentReplyIn(InputModel):
    """The citizen's answer given in the portal."""

    answer: Literal["yes", "no"]


class ConsentAnswerOut(BaseModel):
    """What came of a reply or a withdrawal. `changed`: false when it did not count (wrong number
    or code, late, already answered, not understood, not the member) — then nothing changed."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"outcome": "granted", "changed": True, "detail": "Consent granted.",
         "consent_id": "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", "status": "granted"},
        {"outcome": "wrong_code", "changed": False,
         "detail": "The code does not match the one sent to this number; nothing was changed.",
         "consent_id": None, "status": None}]})

    outcome: Literal["granted", "refused", "withdrawn", "not_understood", "wrong_number", "wrong_code", "late",
                     "already_answered", "not_the_member", "not_granted", "decided"]
    changed: bool
    detail: str
    consent_id: UUID | None = None
    status: str | None = Field(default=None, description="The request's status now (null: no request concerned)")

    @classmethod
    def of(cls, answer: consent.Answer, *, show_request: bool = True) -> ConsentAnswerOut:
        request = answer.request if show_request else None
        return cls(outcome=answer.outcome, changed=answer.changed, detail=answer.detail,  # type: ignore[arg-type]
                   consent_id=request.id if request else None, status=request.status if request else None)
