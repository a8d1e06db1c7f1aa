"""Consent to the expense check: who is asked, how an answer is read, and every way a request
moves — or does not (seed 003: an SMS from 1414 to each adult, answered within one business day)."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import date, datetime, timedelta

import pytest

from services.intake import consent, domain
from shared.business_days import BusinessCalendar
from shared.calendar import ALMATY
from shared.events.contracts import ConsentExpired, ConsentGranted, ConsentRefused, ConsentRequested, ConsentWithdrawn
from tests.support import person, sequential_ids

from .support import ADULT_AGE_18, AT, SHIPPED, form, member, submit

CALENDAR = BusinessCalendar()
PEPPER = b"intake-test-secret"
# AT is Wednesday 1 April 2026, 01:00 in Almaty: the answer is due by the end of Thursday 2 April.
DEADLINE = datetime(2026, 4, 3, tzinfo=ALMATY)

MOTHER_PHONE, FATHER_PHONE = "+77011234567", "+77051112233"
MOTHER = member(person(date(1990, 5, 17), "female", "applicant", phone=MOTHER_PHONE))
FATHER = member(person(date(1988, 2, 1), "male", "spouse", phone=FATHER_PHONE))
SON_18_TODAY = member(person(date(2008, 4, 1), "male", "child", phone="+77770000018"))
SON_17 = member(person(date(2008, 4, 2), "male", "child", phone="+77770000017"))
GRANDMOTHER_NO_PHONE = member(person(date(1950, 9, 9), "female", "grandparent"))
BABY = member(person(date(2021, 3, 2), "male", "child"))


def application(members=(MOTHER, FATHER, SON_18_TODAY, SON_17, GRANDMOTHER_NO_PHONE, BABY), *,  # noqa: ANN001
                applicant_consented: bool = True) -> domain.Application:
    app, _ = submit(replace(form(list(members)), expense_check_consent=applicant_consented))
    return app


def requests_for(app: domain.Application, adult_age: int = 18, required: bool = True):  # noqa: ANN201
    return consent.request_consents(app, adult_age=adult_age, required=required, calendar=CALENDAR,
                                    new_id=sequential_ids(100))


def codes(*values: str):  # noqa: ANN201
    drawn = iter(values)
    return lambda: next(drawn)


def asked_by_sms(request: consent.ConsentRequest, code: str = "482910", at: datetime = AT, *,
                 family=(), salt: str = "00" * 16) -> consent.ConsentRequest:  # noqa: ANN001
    with_code, sent = consent.issue_code(request, same_phone=family, new_code=codes(code), salt=salt, pepper=PEPPER)
    assert sent == code
    asked, _ = consent.ask_by_sms(with_code, at=at, calendar=CALENDAR, family=[with_code])
    return asked


def sms_request(phone: str = FATHER_PHONE, code: str = "482910") -> consent.ConsentRequest:
    father = member(person(date(1988, 2, 1), "male", "spouse", phone=phone))
    (request,) = [r for r in requests_for(application([MOTHER, father]))[0] if r.phone == phone]
    return asked_by_sms(request, code)


# ---- who is asked ---------------------------------------------------------------------------

def test_every_adult_on_the_application_date_is_asked_once():
    app = application()
    requests, events = requests_for(app)
    by_iin = {r.iin: r for r in requests}
    assert list(by_iin) == [MOTHER.iin, FATHER.iin, SON_18_TODAY.iin, GRANDMOTHER_NO_PHONE.iin]  # not 17, not 5
    for r in requests:
        assert r.application_id == app.id and r.created_at == AT
        assert r.purpose == "tsa_expense_check"
        assert r.data_categories == ("bank_cash_flow_aggregates", "bank_deposits", "bank_loans")
        assert r.assessment_quarter == "2026-Q1"  # applied on 1 April (Almaty): Q2, assessed on Q1
        assert r.controller and r.legal_basis and r.banks == ()
        assert r.code_hash is None
    # The applicant consented in the portal when applying: that is her consent, and only hers.
    assert (by_iin[MOTHER.iin].method, by_iin[MOTHER.iin].status) == ("portal", "granted")
    assert (by_iin[MOTHER.iin].answered_at, by_iin[MOTHER.iin].answered_via) == (AT, "portal")
    # Members with a phone are asked by SMS once it is sent; one without, in the portal at once.
    for adult in (FATHER, SON_18_TODAY):
        r = by_iin[adult.iin]
        assert (r.method, r.status, r.phone, r.requested_at, r.expires_at) == ("sms_1414", "requested", adult.phone,
                                                                                  None, None)
    grandmother = by_iin[GRANDMOTHER_NO_PHONE.iin]
    assert (grandmother.method, grandmother.status, grandmother.requested_at) == ("portal", "requested", AT)
    assert grandmother.expires_at == DEADLINE
    # Announced: the two asked in the portal, and the applicant's consent.
    assert [(type(e), e.consent.iin, e.consent.status, e.family_consent) for e in events] == [
        (ConsentRequested, MOTHER.iin, "requested", "pending"),
        (ConsentGranted, MOTHER.iin, "granted", "pending"),
        (ConsentRequested, GRANDMOTHER_NO_PHONE.iin, "requested", "pending"),
    ]


def test_without_the_applicants_portal_consent_she_is_asked_by_sms_too():
    requests, events = requests_for(application(applicant_consented=False))
    mother = next(r for r in requests if r.iin == MOTHER.iin)
    assert (mother.method, mother.status) == ("sms_1414", "requested")
    assert [e.consent.iin for e in events] == [GRANDMOTHER_NO_PHONE.iin]


def test_the_policys_adult_age_decides_who_is_an_adult():
    requests, _ = requests_for(application(), adult_age=21)
    assert SON_18_TODAY.iin not in {r.iin for r in requests}


def test_nobody_is_asked_when_consent_is_not_required():
    assert requests_for(application(), required=False) == ([], [])


def test_consent_required_is_read_from_the_replica_on_the_application_date():
    values = ADULT_AGE_18 + (
        domain.ParameterValue("consent_required", None, date(2024, 1, 1), date(2025, 12, 31), False, SHIPPED),
        domain.ParameterValue("consent_required", None, date(2026, 1, 1), None, True, SHIPPED),
        domain.ParameterValue("consent_required", "750000000", date(2026, 1, 1), None, False, SHIPPED),
    )
    assert consent.consent_required(values, "610000000", date(2025, 12, 31)) is False
    assert consent.consent_required(values, "610000000", date(2026, 1, 1)) is True
    assert consent.consent_required(values, "750000000", date(2026, 1, 1)) is False
    with pytest.raises(domain.MissingParameter):
        consent.consent_required(values, "610000000", date(2023, 12, 31))


def test_a_replicated_consent_required_must_be_true_or_false():
    assert "consent_required" in domain.REPLICATED_PARAMETERS
    assert domain.replica_value_problem("consent_required", True) is None
    assert domain.replica_value_problem("consent_required", "true") == "must be true or false"


# ---- the code and the SMS -------------------------------------------------------------------

def test_only_a_salted_hash_of_the_code_is_kept():
    _, father, *_ = requests_for(application())[0]
    with_code, code = consent.issue_code(father, same_phone=[], new_code=codes("482910"), salt="ab" * 16,
                                         pepper=PEPPER)
    assert code == "482910"
    assert "482910" not in repr(with_code) and with_code.code_hash != "482910"
    assert with_code.code_salt == "ab" * 16 and len(with_code.code_hash) == 64
    assert consent.code_matches(with_code, "482910", PEPPER)
    assert not consent.code_matches(with_code, "482911", PEPPER)
    assert not consent.code_matches(with_code, "482910", b"another secret")
    # Another request with the same code has another hash (its own salt).
    other, _ = consent.issue_code(father, same_phone=[], new_code=codes("482910"), salt="cd" * 16, pepper=PEPPER)
    assert other.code_hash != with_code.code_hash


def test_no_personal_data_in_a_requests_repr():
    _, father, *_ = requests_for(application())[0]
    text = repr(father)
    assert FATHER.iin not in text and FATHER_PHONE not in text and "phone" not in text


def test_the_member_is_asked_when_the_sms_gateway_takes_the_sms_and_a_resend_keeps_the_deadline():
    _, father, *_ = requests_for(application())[0]
    with_code, _ = consent.issue_code(father, same_phone=[], new_code=codes("111111"), salt="00" * 16, pepper=PEPPER)
    # The gateway was down overnight: the member's business day starts when it takes the SMS.
    sent_at = datetime(2026, 4, 2, 9, 0, tzinfo=ALMATY)  # Thursday
    asked, event = consent.ask_by_sms(with_code, at=sent_at, calendar=CALENDAR, family=[with_code])
    assert (asked.requested_at, asked.expires_at) == (sent_at, datetime(2026, 4, 4, tzinfo=ALMATY))  # end of Friday
    assert isinstance(event, ConsentRequested) and event.consent.expires_at == asked.expires_at
    assert "phone" not in event.consent.model_dump() and event.family_consent == "pending"
    resent, _ = consent.issue_code(asked, same_phone=[], new_code=codes("222222"), salt="01" * 16, pepper=PEPPER)
    again, no_event = consent.ask_by_sms(resent, at=sent_at + timedelta(hours=5), calendar=CALENDAR, family=[resent])
    assert no_event is None and (again.requested_at, again.expires_at) == (asked.requested_at, asked.expires_at)
    assert consent.code_matches(again, "222222", PEPPER) and not consent.code_matches(again, "111111", PEPPER)


def test_two_members_sharing_a_phone_never_hold_the_same_code():
    mother = member(person(date(1990, 5, 17), "female", "applicant", phone=MOTHER_PHONE))
    grandmother = member(person(date(1950, 9, 9), "female", "grandparent", phone=MOTHER_PHONE))
    first, second = requests_for(application([mother, grandmother], applicant_consented=False))[0]
    first = asked_by_sms(first, "123456")
    second_with_code, code = consent.issue_code(second, same_phone=[first, second],
                                                new_code=codes("123456", "654321"), salt="02" * 16, pepper=PEPPER)
    assert code == "654321" and consent.code_matches(second_with_code, "654321", PEPPER)
    second = asked_by_sms(second, "654321", family=[first])
    answered = consent.answer_by_sms([first, second], "ИӘ 654321", from_phone=MOTHER_PHONE, received_at=AT,
                                     pepper=PEPPER)
    assert answered.outcome == "granted" and answered.request.id == second.id


def test_a_code_must_be_six_digits_and_only_an_open_sms_request_gets_one():
    _, father, *_ = requests_for(application())[0]
    with pytest.raises(ValueError):
        consent.issue_code(father, same_phone=[], new_code=codes("12345"), salt="00" * 16, pepper=PEPPER)
    grandmother = requests_for(application())[0][3]
    with pytest.raises(ValueError):
        consent.issue_code(grandmother, same_phone=[], new_code=codes("123456"), salt="00" * 16, pepper=PEPPER)


def test_the_sms_says_in_kazakh_and_russian_how_to_answer_and_until_when():
    text = consent.sms_text("482910", DEADLINE)
    assert "ИӘ 482910" in text and "ЖОҚ 482910" in text and "ДА 482910" in text and "НЕТ 482910" in text
    assert text.count("02.04.2026 23:59") == 2


# ---- reading a reply ------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    ("ИӘ 482910", ("yes", "482910")),
    ("иә 482910", ("yes", "482910")),
    ("Иә, 482910!", ("yes", "482910")),
    ("  ДА   482910 ", ("yes", "482910")),
    ("да-482910", ("yes", "482910")),
    ("Yes 482910", ("yes", "482910")),
    ("482910 yes", ("yes", "482910")),
    ("ДА482910", ("yes", "482910")),
    ("ДА 482 910", ("yes", "482910")),
    ("ДA 482910", ("yes", "482910")),  # a Latin A
    ("иə 482910", ("yes", "482910")),  # a Latin schwa for Ә
    ("ИА 482910", ("yes", "482910")),  # Ә typed on a Russian keyboard
    ("ЖОҚ 482910", ("no", "482910")),
    ("жоқ.482910", ("no", "482910")),
    ("Жок 482910", ("no", "482910")),  # Қ typed on a Russian keyboard
    ("НЕТ 482910", ("no", "482910")),
    ("нет, 482910", ("no", "482910")),
    ("HET 482910", ("no", "482910")),  # Latin letters
    ("No 482910", ("no", "482910")),
    ("NO:482910", ("no", "482910")),
    ("ДА \uff14\uff18\uff12\uff19\uff11\uff10", ("yes", "482910")),  # full-width digits
    ("Да, согласен 482910", ("yes", "482910")),
    ("ДА", None),  # no code
    ("482910", None),  # no answer
    ("ДА НЕТ 482910", None),  # both
    ("ДА 48291", None),  # five digits
    ("ДА 4829101", None),  # seven
    ("ОК 482910", None),
    ("", None),
])
def test_an_sms_reply_is_read_whatever_its_case_spacing_or_punctuation(text: str, expected):  # noqa: ANN001
    parsed = consent.parse_reply(text)
    assert (None if parsed is None else (parsed.answer, parsed.code)) == expected


@pytest.mark.parametrize(("raw", "normalised"), [
    ("+77011234567", "+77011234567"), ("77011234567", "+77011234567"), ("87011234567", "+77011234567"),
    ("+7 (701) 123-45-67", "+77011234567"), ("7011234567", "+77011234567"), ("1414", None), ("+4915112345678", None),
])
def test_phone_numbers_are_compared_as_the_form_keeps_them(raw: str, normalised: str | None):
    assert consent.normalise_phone(raw) == normalised


# ---- answering by SMS -----------------------------------------------------------------------

def test_yes_with_the_right_code_from_the_members_phone_before_the_deadline_grants():
    request = sms_request()
    answer = consent.answer_by_sms([request], "ДА 482910", from_phone="87051112233",
                                   received_at=request.expires_at - timedelta(microseconds=1), pepper=PEPPER)
    assert answer.changed and answer.outcome == "granted" and answer.detail == "Consent granted."
    assert answer.request.status == "granted"
    assert (answer.request.answered_at, answer.request.answered_via) == (request.expires_at - timedelta(microseconds=1),
                                                                          "sms")


def test_no_with_the_right_code_refuses():
    request = sms_request()
    answer = consent.answer_by_sms([request], "жоқ 482910", from_phone=FATHER_PHONE, received_at=AT, pepper=PEPPER)
    assert answer.outcome == "refused" and answer.request.status == "refused" and answer.request.answered_at == AT


@pytest.mark.parametrize(("text", "from_phone", "received_at", "outcome"), [
    ("ДА 482910", "+77779998877", AT, "wrong_number"),
    ("ДА 482910", "1414", AT, "wrong_number"),
    ("ДА 482911", FATHER_PHONE, AT, "wrong_code"),
    ("ДА 482910", FATHER_PHONE, DEADLINE, "late"),  # the end of the day is the first instant after it
    ("ДА 482910", FATHER_PHONE, DEADLINE + timedelta(days=3), "late"),
    ("ДА", FATHER_PHONE, AT, "not_understood"),
])
def test_a_reply_that_does_not_count_changes_nothing_and_says_why(text, from_phone, received_at, outcome):  # noqa: ANN001
    request = sms_request()
    assert request.expires_at == DEADLINE
    answer = consent.answer_by_sms([request], text, from_phone=from_phone, received_at=received_at, pepper=PEPPER)
    assert answer.outcome == outcome and not answer.changed
    assert answer.request in (None, request)  # unchanged
    assert answer.detail and FATHER_PHONE not in answer.detail


def test_an_answered_request_keeps_its_answer():
    request = sms_request()
    granted = consent.answer_by_sms([request], "ДА 482910", from_phone=FATHER_PHONE, received_at=AT,
                                    pepper=PEPPER).request
    for text in ("ДА 482910", "НЕТ 482910"):  # the same SMS delivered twice, or second thoughts
        again = consent.answer_by_sms([granted], text, from_phone=FATHER_PHONE, received_at=AT + timedelta(hours=1),
                                      pepper=PEPPER)
        assert again.outcome == "already_answered" and again.request == granted


def test_a_reply_to_an_expired_request_is_late():
    request = sms_request()
    expired = consent.expire(request, now=DEADLINE)
    answer = consent.answer_by_sms([expired], "ДА 482910", from_phone=FATHER_PHONE, received_at=AT, pepper=PEPPER)
    assert answer.outcome == "late" and answer.request == expired


def test_a_request_not_yet_sent_cannot_be_answered():
    _, father, *_ = requests_for(application())[0]  # no code yet
    answer = consent.answer_by_sms([father], "ДА 482910", from_phone=FATHER_PHONE, received_at=AT, pepper=PEPPER)
    assert answer.outcome == "wrong_code"


# ---- answering in the portal ----------------------------------------------------------------

def test_the_member_answers_in_the_portal():
    grandmother = requests_for(application())[0][3]
    assert consent.answer_in_portal(grandmother, citizen_iin=GRANDMOTHER_NO_PHONE.iin, answer="yes",
                                    at=AT).request.status == "granted"
    refused = consent.answer_in_portal(grandmother, citizen_iin=GRANDMOTHER_NO_PHONE.iin, answer="no", at=AT)
    assert (refused.outcome, refused.request.answered_via) == ("refused", "portal")


def test_only_the_member_answers_in_the_portal_and_only_in_time():
    grandmother = requests_for(application())[0][3]
    by_applicant = consent.answer_in_portal(grandmother, citizen_iin=MOTHER.iin, answer="yes", at=AT)
    assert by_applicant.outcome == "not_the_member" and by_applicant.request is None
    late = consent.answer_in_portal(grandmother, citizen_iin=GRANDMOTHER_NO_PHONE.iin, answer="yes", at=DEADLINE)
    assert late.outcome == "late" and late.request == grandmother
    with pytest.raises(ValueError):
        consent.answer_in_portal(grandmother, citizen_iin=GRANDMOTHER_NO_PHONE.iin, answer="maybe", at=AT)


# ---- expiry and withdrawal ------------------------------------------------------------------

def test_an_unanswered_request_expires_at_its_deadline_and_not_before():
    request = sms_request()
    assert consent.expire(request, now=DEADLINE - timedelta(microseconds=1)) is None
    expired = consent.expire(request, now=DEADLINE)
    assert expired.status == "expired" and expired.answered_at is None
    assert consent.expire(expired, now=DEADLINE + timedelta(days=1)) is None  # once


def test_an_answered_or_never_sent_request_does_not_expire():
    request = sms_request()
    granted = consent.answer_by_sms([request], "ДА 482910", from_phone=FATHER_PHONE, received_at=AT,
                                    pepper=PEPPER).request
    assert consent.expire(granted, now=DEADLINE + timedelta(days=9)) is None
    _, never_sent, *_ = requests_for(application())[0]
    assert consent.expire(never_sent, now=DEADLINE + timedelta(days=9)) is None


def test_a_consent_given_is_withdrawn_by_the_member_until_the_decision():
    request = sms_request()
    granted = consent.answer_by_sms([request], "ДА 482910", from_phone=FATHER_PHONE, received_at=AT,
                                    pepper=PEPPER).request
    later = AT + timedelta(days=2)
    withdrawn = consent.withdraw(granted, citizen_iin=granted.iin, at=later, decided=False)
    assert withdrawn.outcome == "withdrawn" and withdrawn.request.status == "withdrawn"
    assert withdrawn.request.withdrawn_at == later and withdrawn.request.answered_at == AT
    assert consent.withdraw(granted, citizen_iin=granted.iin, at=later, decided=True).outcome == "decided"
    assert consent.withdraw(granted, citizen_iin=MOTHER.iin, at=later, decided=False).outcome == "not_the_member"
    assert consent.withdraw(request, citizen_iin=request.iin, at=later, decided=False).outcome == "not_granted"
    again = consent.withdraw(withdrawn.request, citizen_iin=request.iin, at=later, decided=False)
    assert again.outcome == "not_granted" and again.request == withdrawn.request


# ---- the family, and the events -------------------------------------------------------------

def test_the_family_consents_only_when_every_adult_granted():
    requests, _ = requests_for(application([MOTHER, FATHER]))
    mother, father = requests
    father = asked_by_sms(father)
    assert consent.family_consent([mother, father]) == "pending"
    granted = consent.answer_by_sms([father], "ИӘ 482910", from_phone=FATHER_PHONE, received_at=AT,
                                    pepper=PEPPER).request
    assert consent.family_consent([mother, granted]) == "granted"
    event = consent.status_event(granted, [mother, father])  # the family as it was: the change is applied
    assert isinstance(event, ConsentGranted) and event.family_consent == "granted"
    for status, kind in (("refused", ConsentRefused), ("expired", ConsentExpired), ("withdrawn", ConsentWithdrawn)):
        changed = replace(father, status=status)
        assert consent.family_consent([mother, changed]) == "not_given"
        assert type(consent.status_event(changed, [mother, father])) is kind


def test_every_transition_is_announced_without_phone_or_code():
    request = sms_request()
    steps = itertools.chain(
        [consent.answer_by_sms([request], "ДА 482910", from_phone=FATHER_PHONE, received_at=AT,
                               pepper=PEPPER).request],
        [consent.answer_by_sms([request], "НЕТ 482910", from_phone=FATHER_PHONE, received_at=AT,
                               pepper=PEPPER).request],
        [consent.expire(request, now=DEADLINE)],
    )
    for changed in steps:
        dumped = consent.status_event(changed, [changed]).model_dump_json()
        assert FATHER_PHONE not in dumped and "482910" not in dumped and changed.code_hash not in dumped
        assert changed.iin in dumped
