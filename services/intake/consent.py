"""Consent to the expense check: every adult member agrees, by SMS from 1414 or in the portal,
before verification may read the family's bank data (rules.md, Disqualifiers; seed 003).

Pure Python: the consent requests of an application, the rules that move them, the reading of
an SMS reply and the events that announce each change. The service loads, calls these, saves,
emits and sends the SMS.

A request is one ISO/IEC TS 27560 consent record: what is consented to (`purpose`,
`data_categories` of the assessment quarter), who processes the data (`controller`), on which
ground (`legal_basis`), from where (`banks`), how it was asked (`method`) and its lifecycle
(`status` with the times of each step).

Its lifecycle:

    requested ──ИӘ/ДА/YES + code, before the deadline──▶ granted ──withdraw, before the decision──▶ withdrawn
        │ └─────ЖОҚ/НЕТ/NO + code, before the deadline──▶ refused
        └───────no answer by the deadline (the sweep)───▶ expired

An answer from another number, with a wrong code, or at or after the deadline changes nothing
and says why. The deadline is the end of the next business day in Almaty after the member was
asked (shared.business_days): for an SMS, once the SMS gateway took the message, so an outage of
the gateway does not eat the member's day.

The one-time code is never kept: only an HMAC-SHA256 of it under a per-request salt and the
service's secret (`pepper`), so a leaked table does not give the codes away by trying the
million six-digit numbers.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from uuid import UUID

from services.intake.domain import CONSENT_REQUIRED, Application, MissingParameter, ParameterValue, parameter_value
from shared.business_days import BusinessCalendar, consent_deadline
from shared.calendar import ALMATY, age_on, assessment_quarter
from shared.events.contracts import (
    ConsentExpired,
    ConsentGranted,
    ConsentRecord,
    ConsentRefused,
    ConsentRequested,
    ConsentWithdrawn,
)

# ---- what is consented to -------------------------------------------------------------------

PURPOSE = "tsa_expense_check"
# Seed 003: aggregated cash flow of the assessment quarter, savings deposits and loans.
DATA_CATEGORIES = ("bank_cash_flow_aggregates", "bank_deposits", "bank_loans")
CONTROLLER = "Ministry of Labour and Social Protection of the Population of the Republic of Kazakhstan"
LEGAL_BASIS = ("consent of the data subject (Law of the Republic of Kazakhstan No. 94-V 'On personal data and "
               "their protection'); expenses counted for targeted social assistance only with the consent of "
               "every adult family member (Social Code, art. 127; 2025 pilot)")

# How a member is asked: by SMS from 1414 to their phone, or in the portal (an adult without a
# phone on the form, and the applicant who consented there when applying).
SMS_1414 = "sms_1414"
PORTAL = "portal"

REQUESTED = "requested"
GRANTED = "granted"
REFUSED = "refused"
EXPIRED = "expired"
WITHDRAWN = "withdrawn"
# The family as a whole: bank data may be read only when every adult granted.
FAMILY_PENDING = "pending"
FAMILY_GRANTED = "granted"
FAMILY_NOT_GIVEN = "not_given"

CODE_LENGTH = 6
_ONE_MINUTE = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class ConsentRequest:
    """One adult member's consent record. The personal fields stay out of `repr`, so a record
    in a log line or a traceback gives nothing away."""

    id: UUID
    application_id: UUID
    iin: str = field(repr=False)
    phone: str | None = field(repr=False)  # +7XXXXXXXXXX; None: asked in the portal
    purpose: str
    data_categories: tuple[str, ...]
    assessment_quarter: str
    controller: str
    legal_basis: str
    banks: tuple[str, ...]  # bank codes; empty until verification has asked the accounts registry
    method: str  # sms_1414 | portal
    status: str
    created_at: datetime
    requested_at: datetime | None = None  # when the member was asked (the SMS handed to the gateway)
    expires_at: datetime | None = None  # an answer counts strictly before it
    answered_at: datetime | None = None
    answered_via: str | None = None  # sms | portal
    withdrawn_at: datetime | None = None
    code_salt: str | None = field(default=None, repr=False)  # hex
    code_hash: str | None = field(default=None, repr=False)  # hex HMAC-SHA256

    @property
    def open(self) -> bool:
        """Still waiting for the member's answer."""
        return self.status == REQUESTED

    @property
    def asked(self) -> bool:
        return self.requested_at is not None


# ---- who is asked ---------------------------------------------------------------------------

def consent_required(values: Collection[ParameterValue], region_kato: str, on: date) -> bool:
    """The policy parameter `consent_required` on the application date (rules.md: default true)."""
    value = parameter_value(values, CONSENT_REQUIRED, region_kato, on)
    if not isinstance(value, bool):
        raise MissingParameter(CONSENT_REQUIRED, region_kato, on)
    return value


def request_consents(application: Application, *, adult_age: int, required: bool, calendar: BusinessCalendar,
                     new_id: Callable[[], UUID],
                     ) -> tuple[list[ConsentRequest], list[ConsentRequested | ConsentGranted]]:
    """One consent request per member aged `adult_age` or over on the application date, when
    consent is `required` on that date (none otherwise), made with the submission (at its time).

    A member with a phone is asked by SMS (`ask_by_sms`, once the service has the code sent);
    one without is asked in the portal at once. The application's `expense_check_consent` is the
    applicant's own consent given in the portal when applying: the applicant's request is
    granted by it, at the submission; it never stands for anyone else."""
    if not required:
        return [], []
    quarter = str(assessment_quarter(application.application_date))
    at = application.submitted_at
    requests: list[ConsentRequest] = []
    for member in application.members:
        if age_on(member.birth_date, application.application_date) < adult_age:
            continue
        in_portal = member.phone is None or (member.relation == "applicant" and application.expense_check_consent)
        request = ConsentRequest(
            id=new_id(), application_id=application.id, iin=member.iin, phone=member.phone, purpose=PURPOSE,
            data_categories=DATA_CATEGORIES, assessment_quarter=quarter, controller=CONTROLLER,
            legal_basis=LEGAL_BASIS, banks=(), method=PORTAL if in_portal else SMS_1414, status=REQUESTED,
            created_at=at)
        if in_portal:
            request = _asked(request, at, calendar)
        if member.relation == "applicant" and application.expense_check_consent:
            request = replace(request, status=GRANTED, answered_at=at, answered_via=PORTAL)
        requests.append(request)
    events: list[ConsentRequested | ConsentGranted] = []
    for request in requests:
        if request.asked:
            as_asked = replace(request, status=REQUESTED, answered_at=None, answered_via=None)
            events.append(ConsentRequested(consent=record(as_asked),
                                           family_consent=family_consent(_with(requests, as_asked))))
        if request.status == GRANTED:
            events.append(status_event(request, requests))
    return requests, events


def _asked(request: ConsentRequest, at: datetime, calendar: BusinessCalendar) -> ConsentRequest:
    return replace(request, requested_at=at, expires_at=consent_deadline(at, calendar))


# ---- the one-time code ----------------------------------------------------------------------

def code_hash(code: str, salt: str, pepper: bytes) -> str:
    """HMAC-SHA256 of the code under the service's secret, salted per request (hex)."""
    return hmac.new(pepper, bytes.fromhex(salt) + code.encode(), hashlib.sha256).hexdigest()


def code_matches(request: ConsentRequest, code: str, pepper: bytes) -> bool:
    if request.code_hash is None or request.code_salt is None:
        return False
    return hmac.compare_digest(request.code_hash, code_hash(code, request.code_salt, pepper))


def issue_code(request: ConsentRequest, *, same_phone: Iterable[ConsentRequest], new_code: Callable[[], str],
               salt: str, pepper: bytes) -> tuple[ConsentRequest, str]:
    """A fresh code for the SMS (a resend replaces the one before): the request keeps only its
    hash; the code itself goes into the SMS and nowhere else. A code that an open request on the
    same phone would also accept (two members sharing a phone) is drawn again, so the code alone
    tells which request a reply answers."""
    if request.method != SMS_1414 or not request.open:
        raise ValueError("only an open request asked by SMS gets a code")
    others = [r for r in same_phone if r.id != request.id and r.open]
    for _ in range(100):
        code = new_code()
        if not re.fullmatch(rf"\d{{{CODE_LENGTH}}}", code):
            raise ValueError(f"a code is {CODE_LENGTH} digits")
        if not any(code_matches(r, code, pepper) for r in others):
            return replace(request, code_salt=salt, code_hash=code_hash(code, salt, pepper)), code
    raise RuntimeError("no free code for this phone")  # 100 draws among a million: a broken generator


def ask_by_sms(request: ConsentRequest, *, at: datetime, calendar: BusinessCalendar,
               family: Sequence[ConsentRequest]) -> tuple[ConsentRequest, ConsentRequested | None]:
    """The SMS gateway took the SMS with the code at `at`: the member is asked, and their
    business day starts. A resend later changes neither the request time nor the deadline (no
    event then). `family`: the application's requests."""
    if request.asked or not request.open:
        return request, None
    asked = _asked(request, at, calendar)
    return asked, ConsentRequested(consent=record(asked), family_consent=family_consent(_with(family, asked)))


def sms_text(code: str, expires_at: datetime) -> str:
    """The SMS from 1414, in Kazakh and Russian: what is asked, how to answer, until when."""
    last_minute = (expires_at.astimezone(ALMATY) - _ONE_MINUTE).strftime("%d.%m.%Y %H:%M")
    return (f"1414: АӘК тағайындау үшін банк деректерін (шоттар, депозиттер, несиелер) алуға келісесіз бе? "
            f"Жауап: ИӘ {code} немесе ЖОҚ {code}, {last_minute} дейін.\n"
            f"1414: Согласны на получение данных банков (счета, депозиты, кредиты) для назначения АСП? "
            f"Ответ: ДА {code} или НЕТ {code}, до {last_minute}.")


# ---- reading an SMS reply --------------------------------------------------------------------

YES = "yes"
NO = "no"

_YES_WORDS = frozenset({"иә", "иа", "ия", "да", "yes", "ia", "iä"})
_NO_WORDS = frozenset({"жоқ", "жок", "нет", "no", "joq", "jok"})
# Latin letters that look like Cyrillic ones, as phones without a Kazakh or Russian keyboard
# type them ("HET", "ДA"), and the Latin schwa typed for Ә.
_LOOKALIKES = str.maketrans({"a": "а", "e": "е", "o": "о", "p": "р", "c": "с", "x": "х", "k": "к", "h": "н",
                             "t": "т", "m": "м", "b": "в", "y": "у", "ə": "ә"})
_WORD = re.compile(r"[^\W\d_]+")


@dataclass(frozen=True, slots=True)
class ParsedReply:
    answer: str  # yes | no
    code: str


def parse_reply(text: str) -> ParsedReply | None:
    """`ИӘ 123456`, `да,123456`, `No-123456`, `123 456 ЖОҚ`: the answer word and the code, in any
    case and order, with any spaces or punctuation. None when the text holds no answer word, both
    a yes and a no, or not exactly one code's worth of digits."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    answers = {_answer_word(word) for word in _WORD.findall(folded)} - {None}
    digits = "".join(str(unicodedata.decimal(c)) for c in folded if c.isdecimal())
    if len(answers) != 1 or len(digits) != CODE_LENGTH:
        return None
    return ParsedReply(answers.pop(), digits)


def _answer_word(word: str) -> str | None:
    for candidate in (word, word.translate(_LOOKALIKES)):
        if candidate in _YES_WORDS:
            return YES
        if candidate in _NO_WORDS:
            return NO
    return None


def normalise_phone(phone: str) -> str | None:
    """A Kazakh mobile number as the form keeps it (+7XXXXXXXXXX), from how SMS gateways write
    it (`77011234567`, `+7 701 123-45-67`, `87011234567`); None when it is not one."""
    digits = re.sub(r"\D", "", phone)
    if len(digits) == 11 and digits[0] in "78":
        return "+7" + digits[1:]
    if len(digits) == 10:
        return "+7" + digits
    return None


# ---- answers and the other transitions ------------------------------------------------------

# What became of an answer or a withdrawal, for the caller and the log (no personal data).
OUTCOME_GRANTED = "granted"
OUTCOME_REFUSED = "refused"
OUTCOME_WITHDRAWN = "withdrawn"
NOT_UNDERSTOOD = "not_understood"
WRONG_NUMBER = "wrong_number"
WRONG_CODE = "wrong_code"
LATE = "late"
ALREADY_ANSWERED = "already_answered"
NOT_THE_MEMBER = "not_the_member"
NOT_GRANTED = "not_granted"
DECIDED = "decided"
CHANGED = frozenset({OUTCOME_GRANTED, OUTCOME_REFUSED, OUTCOME_WITHDRAWN})

_DETAIL = {
    OUTCOME_GRANTED: "Consent granted.",
    OUTCOME_REFUSED: "Consent refused.",
    OUTCOME_WITHDRAWN: "Consent withdrawn.",
    NOT_UNDERSTOOD: "The reply was not understood: answer ИӘ, ДА or YES to consent, ЖОҚ, НЕТ or NO to refuse, "
                    f"followed by the {CODE_LENGTH}-digit code from the SMS.",
    WRONG_NUMBER: "No consent was asked of this number: a reply counts only from the member's own phone.",
    WRONG_CODE: "The code does not match the one sent to this number; nothing was changed.",
    LATE: "The deadline to answer has passed; nothing was changed.",
    ALREADY_ANSWERED: "This request was already answered; nothing was changed.",
    NOT_THE_MEMBER: "Only the member asked may answer or withdraw this consent.",
    NOT_GRANTED: "Only a consent given can be withdrawn; to refuse a request, answer it with ЖОҚ, НЕТ or NO.",
    DECIDED: "The application has been decided: the consent it was decided on can no longer be withdrawn.",
}


@dataclass(frozen=True, slots=True)
class Answer:
    """What came of a reply or a withdrawal: the outcome, the request as it now is (None when no
    request is concerned) and a clear sentence for the caller."""

    outcome: str
    request: ConsentRequest | None = None

    @property
    def changed(self) -> bool:
        return self.outcome in CHANGED

    @property
    def detail(self) -> str:
        return _DETAIL[self.outcome]


def answer_by_sms(same_phone: Collection[ConsentRequest], text: str, *, from_phone: str, received_at: datetime,
                  pepper: bytes) -> Answer:
    """An SMS `text` from `from_phone` received at `received_at`. `same_phone`: the requests
    sent to that phone (any status; the service looks them up by the normalised number). The
    code tells which request it answers; a reply counts only from the member's own phone, with
    that request's code, strictly before its deadline, while the request is open."""
    reply = parse_reply(text)
    if reply is None:
        return Answer(NOT_UNDERSTOOD)
    phone = normalise_phone(from_phone)
    mine = [r for r in same_phone if phone is not None and r.phone == phone and r.method == SMS_1414]
    if not mine:
        return Answer(WRONG_NUMBER)
    matching = [r for r in mine if code_matches(r, reply.code, pepper)]
    if not matching:
        return Answer(WRONG_CODE)
    # issue_code keeps an open request's code unique on its phone; a closed one may share it.
    request = next((r for r in matching if r.open), matching[0])
    return _answer(request, reply.answer, at=received_at, via="sms")


def answer_in_portal(request: ConsentRequest, *, citizen_iin: str, answer: str, at: datetime) -> Answer:
    """The portal relays the answer of the citizen it acts for (signed in through the national
    identity provider, so no code is needed): it counts only from the member asked."""
    if answer not in (YES, NO):
        raise ValueError(f"an answer is {YES} or {NO}")
    if citizen_iin != request.iin:
        return Answer(NOT_THE_MEMBER)
    return _answer(request, answer, at=at, via="portal")


def _answer(request: ConsentRequest, answer: str, *, at: datetime, via: str) -> Answer:
    if request.status == EXPIRED:
        return Answer(LATE, request)
    if not request.open:
        return Answer(ALREADY_ANSWERED, request)
    if request.expires_at is None or at >= request.expires_at:
        # Not asked yet (no code was sent, so none can match) or too late: the sweep expires it.
        return Answer(LATE, request)
    granted = answer == YES
    answered = replace(request, status=GRANTED if granted else REFUSED, answered_at=at, answered_via=via)
    return Answer(OUTCOME_GRANTED if granted else OUTCOME_REFUSED, answered)


def is_due_to_expire(request: ConsentRequest, now: datetime) -> bool:
    return request.open and request.expires_at is not None and now >= request.expires_at


def expire(request: ConsentRequest, *, now: datetime) -> ConsentRequest | None:
    """The request expired unanswered, if its deadline passed by `now` (None: not due)."""
    if not is_due_to_expire(request, now):
        return None
    return replace(request, status=EXPIRED)


def withdraw(request: ConsentRequest, *, citizen_iin: str, at: datetime, decided: bool) -> Answer:
    """The member withdraws a consent given, until the application is decided (`decided`)."""
    if citizen_iin != request.iin:
        return Answer(NOT_THE_MEMBER)
    if request.status != GRANTED:
        return Answer(NOT_GRANTED, request)
    if decided:
        return Answer(DECIDED, request)
    return Answer(OUTCOME_WITHDRAWN, replace(request, status=WITHDRAWN, withdrawn_at=at))


# ---- the family, and the events -------------------------------------------------------------

def family_consent(requests: Collection[ConsentRequest]) -> str:
    """not_given as soon as one adult refused, let the deadline pass or withdrew; granted when
    every adult granted; pending otherwise."""
    statuses = {r.status for r in requests}
    if statuses & {REFUSED, EXPIRED, WITHDRAWN}:
        return FAMILY_NOT_GIVEN
    if statuses == {GRANTED}:
        return FAMILY_GRANTED
    return FAMILY_PENDING


ConsentEvent = ConsentRequested | ConsentGranted | ConsentRefused | ConsentExpired | ConsentWithdrawn
_EVENT_OF_STATUS = {GRANTED: ConsentGranted, REFUSED: ConsentRefused, EXPIRED: ConsentExpired,
                    WITHDRAWN: ConsentWithdrawn}


def status_event(request: ConsentRequest, family: Sequence[ConsentRequest]) -> ConsentEvent:
    """The event announcing that `request` reached its status; `family`: the application's
    requests (the changed one is taken as `request` says)."""
    return _EVENT_OF_STATUS[request.status](consent=record(request),
                                            family_consent=family_consent(_with(family, request)))


def record(request: ConsentRequest) -> ConsentRecord:
    """The consent record as the flow sees it: no phone, no code."""
    if request.requested_at is None or request.expires_at is None:
        raise ValueError("a request is announced once the member is asked")
    return ConsentRecord(
        consent_id=request.id, application_id=request.application_id, iin=request.iin, purpose=request.purpose,
        data_categories=list(request.data_categories), assessment_quarter=request.assessment_quarter,
        controller=request.controller, legal_basis=request.legal_basis, banks=list(request.banks),
        method=request.method, status=request.status, requested_at=request.requested_at,  # type: ignore[arg-type]
        expires_at=request.expires_at, answered_at=request.answered_at,
        answered_via=request.answered_via, withdrawn_at=request.withdrawn_at)  # type: ignore[arg-type]


def _with(family: Sequence[ConsentRequest], changed: ConsentRequest) -> list[ConsentRequest]:
    others = [r for r in family if r.id != changed.id]
    return others + [changed]

