"""The expense check's steps and a bank's answer (services/verification/expenses.py)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from uuid import UUID, uuid4

import pytest

from services.verification import expenses
from services.verification.expenses import (
    AskBanks,
    BankAnswer,
    BankRequest,
    Check,
    Freeze,
    Gathered,
    Wait,
    answer,
    follow_consent,
    next_step,
    overdue,
)
from shared.events.contracts import IncomeRecord, PurchaseRecord

APP = UUID("0193a1b2-c3d4-7e5f-8a9b-000000000002")
AT = datetime(2026, 11, 3, 9, 30, tzinfo=timezone.utc)
CAR = PurchaseRecord(iin="880303400011", registry="vehicle", kind="car", date=date(2026, 8, 1))
GATHERED = Gathered(incomes=(IncomeRecord(iin="880303400011", type="wage", month="2026-07", amount=Decimal(1)),),
                    purchases=(CAR,), sources={})
FIGURES = BankAnswer(total_spending=Decimal("412000.50"), non_mortgage_loans=Decimal(0),
                     savings_deposits=Decimal("900000.00"))


def _request(bank: str = "HSBKKZKX", iin: str = "880303400011", answered: BankAnswer | None = None) -> BankRequest:
    return BankRequest(id=uuid4(), application_id=APP, bank_code=bank, iin=iin, quarter="2026-Q3", created_at=AT,
                       answered_at=AT if answered else None, answer=answered)


def _record(status: str, iin: str = "880303400011") -> dict:
    return {"consent_id": str(uuid4()), "iin": iin, "status": status, "requested_at": AT.isoformat()}


@pytest.mark.parametrize(("check", "requests", "expected"), [
    (Check(APP, consent_required=True), [], Wait()),  # nothing gathered yet
    (Check(APP, consent_required=False, gathered=GATHERED), [], Freeze(None)),
    (Check(APP, consent_required=True, gathered=GATHERED), [], Wait()),  # the family has not answered
    (Check(APP, consent_required=True, gathered=GATHERED, family_consent="granted"), [], AskBanks()),
    (Check(APP, consent_required=True, gathered=GATHERED, family_consent="granted", banks_asked_at=AT),
     [_request(), _request("KCJBKZKX", answered=FIGURES)], Wait()),  # one bank still to answer
    (Check(APP, consent_required=True, gathered=GATHERED, family_consent="granted", frozen=True), [], Wait()),
])
def test_the_next_step_follows_from_the_checks_state_alone(check, requests, expected):
    assert next_step(check, requests) == expected


def test_a_family_that_did_not_consent_is_frozen_without_any_bank_even_one_already_asked():
    check = Check(APP, consent_required=True, gathered=GATHERED, family_consent="not_given", banks_asked_at=AT)
    step = next_step(check, [_request()])
    assert isinstance(step, Freeze) and step.expenses.consent is False
    assert step.expenses.purchases == [CAR] and step.expenses.account_spending == 0


def test_the_banks_answers_are_summed_over_every_member_and_bank():
    other = BankAnswer(total_spending=Decimal("100000.00"), non_mortgage_loans=Decimal("250000.00"),
                       savings_deposits=Decimal("0.01"), housing_deposits=Decimal("5000000.00"))
    check = Check(APP, consent_required=True, gathered=GATHERED, family_consent="granted", banks_asked_at=AT)
    step = next_step(check, [_request(answered=FIGURES), _request("KCJBKZKX", "900101300012", answered=other)])
    assert isinstance(step, Freeze)
    facts = step.expenses
    assert (facts.consent, facts.account_spending, facts.non_mortgage_loans, facts.savings_deposits) == (
        True, Decimal("512000.50"), Decimal("250000.00"), Decimal("900000.01"))  # housing deposits never count


def test_a_family_with_no_account_anywhere_is_frozen_once_the_registry_said_so():
    check = Check(APP, consent_required=True, gathered=GATHERED, family_consent="granted", banks_asked_at=AT)
    step = next_step(check, [])
    assert isinstance(step, Freeze) and step.expenses.consent and step.expenses.account_spending == 0


def test_consent_events_keep_each_adults_latest_record_and_the_familys_standing():
    check = Check(APP, consent_required=True)
    first = _record("requested")
    check = follow_consent(check, first, "pending")
    check = follow_consent(check, first | {"status": "granted"}, "granted")
    assert check.family_consent == "granted" and list(check.consents.values())[0]["status"] == "granted"
    assert check.consenting_iins == ("880303400011",)


@pytest.mark.parametrize(("kwargs", "outcome", "field"), [
    ({"bank_code": "KCJBKZKX"}, expenses.OTHER_BANK, "request_id"),
    ({"iin": "900101300012"}, expenses.MISMATCH, "iin"),
    ({"quarter": "2026-Q2"}, expenses.MISMATCH, "quarter"),
])
def test_an_answer_that_does_not_fit_its_request_is_refused(kwargs, outcome, field):
    check = Check(APP, consent_required=True, family_consent="granted")
    given = {"bank_code": "HSBKKZKX", "iin": "880303400011", "quarter": "2026-Q3"} | kwargs
    result = answer(_request(), check, figures=FIGURES, at=AT, **given)
    assert (result.outcome, result.field) == (outcome, field) and result.request.answer is None


def test_the_same_answer_twice_has_one_effect_and_other_figures_are_refused():
    check = Check(APP, consent_required=True, family_consent="granted")
    first = answer(_request(), check, bank_code="HSBKKZKX", iin="880303400011", quarter="2026-Q3", figures=FIGURES,
                   at=AT)
    assert first.outcome == expenses.RECORDED and first.request.answer == FIGURES
    again = answer(first.request, check, bank_code="HSBKKZKX", iin="880303400011", quarter="2026-Q3",
                   figures=FIGURES, at=AT + timedelta(seconds=5))
    assert again.outcome == expenses.ALREADY_RECORDED and again.request.answered_at == AT
    other = answer(first.request, check, bank_code="HSBKKZKX", iin="880303400011", quarter="2026-Q3",
                   figures=replace(FIGURES, total_spending=Decimal(1)), at=AT)
    assert other.outcome == expenses.DIFFERENT_ANSWER and other.request.answer == FIGURES


def test_an_answer_after_the_consent_was_withdrawn_is_discarded_unread():
    check = Check(APP, consent_required=True, family_consent="not_given", frozen=True)
    result = answer(_request(), check, bank_code="HSBKKZKX", iin="880303400011", quarter="2026-Q3",
                    figures=FIGURES, at=AT)
    assert result.outcome == expenses.DISCARDED and result.request.answer is None


def test_a_silent_bank_makes_the_application_overdue_once_after_the_deadline():
    deadline = AT + timedelta(days=2)
    check = Check(APP, consent_required=True, gathered=GATHERED, family_consent="granted", banks_asked_at=AT,
                  bank_deadline=deadline)
    silent, answered = _request(), _request("KCJBKZKX", answered=FIGURES)
    assert overdue(check, [silent, answered], deadline - timedelta(seconds=1)) is None
    event = overdue(check, [silent, answered], deadline)
    assert event is not None and event.banks == ["HSBKKZKX"] and event.deadline == deadline
    assert overdue(replace(check, overdue_at=deadline), [silent], deadline + timedelta(days=1)) is None  # once
    assert overdue(check, [answered], deadline) is None  # everyone answered
    assert overdue(replace(check, frozen=True), [silent], deadline) is None
