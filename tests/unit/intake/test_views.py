"""What each caller sees of a family: the citizen everything of their own family, a case worker
everything but phones, ops every family masked."""

from __future__ import annotations

from services.intake.schemas import ApplicationOut

from .support import form, submit


def test_the_citizen_sees_their_family_in_full_phones_included():
    application = submit(form())[0]
    out = ApplicationOut.of(application, masked=False, phones_in_clear=True)
    applicant = out.members[0]
    source = application.members[0]
    assert (applicant.iin, applicant.full_name, applicant.birth_date, applicant.phone) == (
        source.iin, source.full_name, source.birth_date, "+77011234567")
    assert out.masked is False


def test_a_case_worker_sees_the_family_but_not_the_phones():
    out = ApplicationOut.of(submit(form())[0], masked=False, phones_in_clear=False)
    assert out.members[0].phone == "+7701*****67"
    assert out.members[1].phone is None


def test_ops_see_the_family_masked():
    application = submit(form())[0]
    out = ApplicationOut.of(application, masked=True, phones_in_clear=False)
    applicant, source = out.members[0], application.members[0]
    assert applicant.iin == source.iin[:4] + "******" + source.iin[-2:]
    assert applicant.full_name == "T. A."  # "Test Applicant"
    assert applicant.birth_date is None and applicant.phone == "+7701*****67"
    assert out.masked is True
    assert source.iin not in out.model_dump_json() and source.full_name not in out.model_dump_json()


def test_the_answer_types_know_every_status_the_domain_has():
    from typing import get_args

    from services.intake import domain
    from services.intake.schemas import ApplicationStatus, TsaStatusOut

    assert set(get_args(ApplicationStatus)) == set(domain._ORDER) | domain.FINAL
    assert set(get_args(TsaStatusOut.model_fields["status"].annotation)) == {domain.NONE, *domain.TSA_STATUS.values()}
