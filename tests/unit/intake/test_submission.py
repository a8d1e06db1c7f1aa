"""Intake's check at the door: who may apply, with which family, and what the flow is told."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import date

import pytest

from services.intake import domain
from tests.support import person

from .support import AT, BANKS, form, member, submit

def test_a_family_is_submitted_on_its_almaty_date_and_announced():
    f = form()
    application, event = submit(f)
    assert application.id == uuid.UUID(int=1)
    assert application.status == domain.SUBMITTED
    assert application.application_date == date(2026, 4, 1)
    assert application.submitted_at == AT and application.submitted_by == "portal-1"
    assert application.timeline == (domain.StatusChange(domain.SUBMITTED, AT),)
    assert application.members == f.members and application.holds_members
    assert event.application == domain.case_context(application)
    assert event.application.application_date == date(2026, 4, 1)
    assert event.application.bank_account.iban == "KZ20601KZT5004100100"
    assert application.extension is False and event.application.extension is False  # the system's to set
    assert event.expense_check_consent is True
    assert [m.iin for m in event.members] == [m.iin for m in f.members]
    assert "phone" not in event.members[0].model_dump()  # the flow does not need it


def _with(f: domain.ApplicationForm, i: int, **changes) -> domain.ApplicationForm:  # noqa: ANN003
    members = list(f.members)
    members[i] = replace(members[i], **changes)
    return replace(f, members=tuple(members))


@pytest.mark.parametrize("change, field", [
    (lambda f: _with(f, 0, iin="791028302729"), "members[0].iin"),
    (lambda f: _with(f, 0, birth_date=date(1991, 5, 17)), "members[0].birth_date"),
    (lambda f: _with(f, 0, sex="male"), "members[0].sex"),
    (lambda f: _with(f, 1, relation="applicant"), "members"),
    (lambda f: replace(f, members=(f.members[0],) + (f.members[1],) * 2), "members[2].iin"),
    (lambda f: replace(f, region_kato="990000000"), "region_kato"),
    (lambda f: replace(f, region_kato="61000000x"), "region_kato"),
    # Structurally a Turkestan code, but not one of the shipped classifier.
    (lambda f: replace(f, region_kato="611010000"), "region_kato"),
    (lambda f: replace(f, bank_iban="KZ21601KZT5004100100"), "bank_account.iban"),
    (lambda f: replace(f, bank_code="NBRKKZKX"), "bank_account.bank_code"),
])
def test_a_family_that_breaks_a_rule_of_the_form_is_refused(change, field):
    with pytest.raises(domain.InvalidApplication) as refused:
        submit(change(form()))
    assert field in [path for path, _ in refused.value.problems]


def test_a_birth_date_after_the_application_date_is_refused():
    baby = member(person(date(2026, 4, 2), "male", "child"))
    with pytest.raises(domain.InvalidApplication) as refused:
        submit(replace(form(), members=form().members[:1] + (baby,)))
    assert ("members[1].birth_date", "birth date is in the future") in refused.value.problems


def test_a_member_on_an_active_application_is_refused_without_showing_the_iin():
    f = form()
    child = f.members[1].iin
    with pytest.raises(domain.ActiveApplicationExists) as refused:
        submit(f, taken={child, "000000000000"})
    assert [path for path, _ in refused.value.problems] == ["members[1].iin"]
    assert child not in str(refused.value.problems)


def test_a_form_error_is_reported_before_an_active_application():
    f = replace(form(), region_kato="990000000")
    with pytest.raises(domain.InvalidApplication):
        submit(f, taken={f.members[0].iin})


# ---- the account the benefit is paid into ----------------------------------------------------

@pytest.mark.parametrize("iban, bic, field, says", [
    ("KZ20601KZT5004100100", "HSBKKZKX", None, None),
    ("KZ47856KZT5004100100", "KCJBKZKX", None, None),
    ("KZ21601KZT5004100100", "HSBKKZKX", "bank_account.iban", "check digits"),  # one digit off
    ("KZ20601KZT500410010", "HSBKKZKX", "bank_account.iban", "length"),
    # The README's old example: an account at the National Bank, paired with Halyk's BIC.
    ("KZ86125KZT5004100100", "HSBKKZKX", "bank_account.bank_code", "bank code 125, NBRKKZKX"),
    ("KZ47856KZT5004100100", "HSBKKZKX", "bank_account.bank_code", "bank code 856, KCJBKZKX (Bank CenterCredit)"),
    ("KZ48111KZT5004100100", "HSBKKZKX", "bank_account.bank_code", "which no bank in the registry has"),
    ("KZ86125KZT5004100100", "NBRKKZKX", "bank_account.bank_code", "not a bank that pays social benefits"),
    ("KZ03947KZT5004100100", "ALFAKZKA", "bank_account.bank_code", "not a bank that pays"),  # deactivated
])
def test_the_account_is_a_valid_iban_at_the_participating_bank_its_bic_names(iban, bic, field, says):
    problems = domain.bank_account_problems(iban, bic, BANKS)
    if field is None:
        assert problems == []
    else:
        assert [f for f, _ in problems] == [field]
        assert says in problems[0][1]


def test_a_bank_record_must_agree_with_the_national_registry_where_it_knows_the_bic():
    assert domain.bank_record_problems(domain.ParticipatingBank("HSBKKZKX", "601", "Halyk")) == []
    assert [f for f, _ in domain.bank_record_problems(domain.ParticipatingBank("HSBKKZKX", "856", "Halyk"))] == [
        "code"]
    # A bank the registry does not know yet (a new or renamed one) is taken as recorded.
    assert domain.bank_record_problems(domain.ParticipatingBank("BRKEKZKA", "914", "Bereke Bank")) == []


# ---- who applies --------------------------------------------------------------------------------

def test_the_citizen_applies_only_as_the_applicant_of_the_family():
    f = form()
    domain.refuse_unless_applicant(f.members, f.members[0].iin)
    for citizen in (f.members[1].iin, "900101300005"):  # a child of the family; someone else
        with pytest.raises(domain.NotTheApplicant) as refused:
            domain.refuse_unless_applicant(f.members, citizen)
        assert [path for path, _ in refused.value.problems] == ["members"]
