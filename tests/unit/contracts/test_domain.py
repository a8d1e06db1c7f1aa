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
    assert event.contract_id == CONTRACT_ID and event.application_id == d.application.application_id
    assert event.decision_id == d.decision_id and tuple(event.obligations) == contract.obligations


@pytest.mark.parametrize("overrides", [{"kind": "unconditional"}, {"eligible": False}])
def test_nothing_is_drafted_without_a_conditional_approval(overrides):
    assert draft(**overrides) is None


def test_a_decision_delivered_again_drafts_nothing():
    contract, _ = draft()
    assert draft(existing=contract) is None


def test_signing_a_drafted_contract_signs_it_and_says_so():
    contract, _ = draft()
    signed, event = domain.sign(contract, "portal-1", SIGNED_AT)
    assert (signed.status, signed.signed_at, signed.signed_by) == (domain.SIGNED, SIGNED_AT, "portal-1")
    assert signed.obligations == contract.obligations
    assert (event.contract_id, event.application_id, event.decision_id, event.signed_at) == (
        contract.id, contract.application_id, contract.decision_id, SIGNED_AT)


def test_signing_again_is_a_retry_not_a_second_signature():
    contract, _ = draft()
    signed, _ = domain.sign(contract, "portal-1", SIGNED_AT)
    again, event = domain.sign(signed, "portal-2", datetime(2026, 12, 1, tzinfo=timezone.utc))
    assert event is None and again == signed


def test_a_terminated_contract_cannot_be_signed():
    contract, _ = draft()
    with pytest.raises(domain.ContractNotSignable, match="terminated"):
        domain.sign(replace(contract, status=domain.TERMINATED), "portal-1", SIGNED_AT)
