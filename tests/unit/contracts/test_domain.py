"""Social contracts: drafted for a conditional approval, signed once."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import date, datetime, timezone

import pytest

from services.contracts import domain
from shared.events.contracts import Obligation
from tests.support import decided_event, person

AT = datetime(2026, 11, 23, 8, 0, tzinfo=timezone.utc)
SIGNED_AT = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)
CONTRACT_ID = uuid.UUID(int=1)

MOTHER = person(date(1991, 1, 1), "female", "applicant")
FATHER = person(date(1989, 1, 1), "male", "spouse", employed=True)
GRANDMOTHER = person(date(1950, 1, 1), "female", "parent")


def decision(**overrides):  # noqa: ANN003, ANN201
    arguments = dict(kind="conditional", members=[MOTHER, FATHER, GRANDMOTHER],
                     able_bodied=[MOTHER["iin"], FATHER["iin"]]) | overrides
    return decided_event(**arguments).payload()


def draft(existing=None, **overrides):  # noqa: ANN001, ANN003, ANN201
    return domain.draft(existing, decision(**overrides), contract_id=CONTRACT_ID, at=AT)


def test_a_conditional_approval_drafts_a_contract_binding_the_able_bodied():
    d = decision()
    contract, event = domain.draft(None, d, contract_id=CONTRACT_ID, at=AT)
    # the employed undertake to stay employed, the others get a job-placement measure;
    # the grandmother is not able-bodied and takes on nothing
    assert contract.obligations == (Obligation(iin=MOTHER["iin"], measure=domain.JOB_PLACEMENT),
                                    Obligation(iin=FATHER["iin"], measure=domain.STAY_EMPLOYED))
    assert contract.status == domain.DRAFTED and contract.drafted_at == AT and contract.signed_at is None
    assert (contract.id, contract.application_id, contract.decision_id) == (
        CONTRACT_ID, d.application.application_id, d.decision_id)
    assert (contract.region_kato, contract.period_quarter) == ("610000000", "2026-Q4")
    # the family the contract binds: its members read it, its applicant signs it
    assert contract.applicant_iin == MOTHER["iin"]
    assert contract.member_iins == (MOTHER["iin"], FATHER["iin"], GRANDMOTHER["iin"])
    assert event.contract_id == CONTRACT_ID and event.application_id == d.application.application_id
    assert event.decision_id == d.decision_id and tuple(event.obligations) == contract.obligations


@pytest.mark.parametrize("overrides", [{"kind": "unconditional"}, {"eligible": False}])
def test_nothing_is_drafted_without_a_conditional_approval(overrides):
    assert draft(**overrides) is None


def test_a_decision_delivered_again_drafts_nothing():
    contract, _ = draft()
    assert draft(existing=contract) is None


def test_the_applicant_signs_a_drafted_contract_and_it_says_so():
    contract, _ = draft()
    signed, event = domain.sign(contract, MOTHER["iin"], "portal-1", SIGNED_AT)
    assert (signed.status, signed.signed_at) == (domain.SIGNED, SIGNED_AT)
    assert (signed.signed_by, signed.signed_via) == (MOTHER["iin"], "portal-1")  # the citizen, and the relay
    assert signed.obligations == contract.obligations
    assert (event.contract_id, event.application_id, event.decision_id, event.signed_at) == (
        contract.id, contract.application_id, contract.decision_id, SIGNED_AT)


def test_signing_again_is_a_retry_not_a_second_signature():
    contract, _ = draft()
    signed, _ = domain.sign(contract, MOTHER["iin"], "portal-1", SIGNED_AT)
    again, event = domain.sign(signed, MOTHER["iin"], "portal-2", datetime(2026, 12, 1, tzinfo=timezone.utc))
    assert event is None and again == signed


@pytest.mark.parametrize("signer", [FATHER["iin"], GRANDMOTHER["iin"], "700606300015"])
def test_only_the_applicant_signs(signer):
    contract, _ = draft()
    with pytest.raises(domain.NotTheApplicant, match="applicant"):
        domain.sign(contract, signer, "portal-1", SIGNED_AT)
    signed, _ = domain.sign(contract, MOTHER["iin"], "portal-1", SIGNED_AT)
    with pytest.raises(domain.NotTheApplicant):  # nor "signs again" what the applicant signed
        domain.sign(signed, signer, "portal-1", SIGNED_AT)


def test_a_contract_drafted_before_its_family_was_kept_is_signed_by_no_one():
    contract, _ = draft()
    with pytest.raises(domain.NotTheApplicant):
        domain.sign(replace(contract, applicant_iin=None, member_iins=()), MOTHER["iin"], "portal-1", SIGNED_AT)


def test_a_terminated_contract_cannot_be_signed():
    contract, _ = draft()
    with pytest.raises(domain.ContractNotSignable, match="terminated"):
        domain.sign(replace(contract, status=domain.TERMINATED), MOTHER["iin"], "portal-1", SIGNED_AT)
