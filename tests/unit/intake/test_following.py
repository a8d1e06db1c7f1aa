"""An application follows the flow: each event moves its status forward at most once, and the
facts it carries (the decision, the contract) are kept."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest

from services.intake import domain
from shared.events.contracts import (
    ContractCompleted,
    ContractDrafted,
    ContractLapsed,
    ContractSigned,
    ContractTerminated,
    EligibilityDeferred,
    IncomeRecord,
    PaymentScheduled,
    ScheduledPayment,
    VerificationCompleted,
    VerificationOverdue,
    VerificationWaiting,
)
from tests.support import decided_event

from .support import form, submit

AT = datetime(2026, 4, 2, 9, 0, tzinfo=timezone.utc)
EVENT_ID = uuid.UUID(int=99)
CONTRACT = uuid.UUID(int=7)
DECISION = uuid.UUID(int=8)


def submitted() -> domain.Application:
    return submit(form())[0]


def verified_event(a: domain.Application) -> VerificationCompleted:
    return VerificationCompleted(
        application=domain.case_context(a), evidence_id=uuid.UUID(int=5), assessment_quarter="2026-Q1",
        members=[], incomes=[IncomeRecord(iin=a.members[0].iin, type="wage", month="2026-01", amount="1000.00")])


def decided(a: domain.Application, eligible: bool = True):  # noqa: ANN201
    return decided_event(eligible=eligible, application_id=a.id).payload()


def deferred(a: domain.Application) -> EligibilityDeferred:
    return EligibilityDeferred(application=domain.case_context(a), reason="MISSING_PARAMETER", detail="mci")


def drafted(a: domain.Application) -> ContractDrafted:
    return ContractDrafted(contract_id=CONTRACT, application_id=a.id, decision_id=DECISION, obligations=[])


def signed(a: domain.Application) -> ContractSigned:
    return ContractSigned(contract_id=CONTRACT, application_id=a.id, decision_id=DECISION, signed_at=AT)


def scheduled(a: domain.Application) -> PaymentScheduled:
    return PaymentScheduled(application_id=a.id, decision_id=DECISION, region_kato=a.region_kato, settlement="urban",
                            bank_code=a.bank_code, total=51192, payments=[
                                ScheduledPayment(payment_id=uuid.UUID(int=i), month=m, tsa=25596, child_supplement=0,
                                                 total=25596) for i, m in enumerate(["2026-04", "2026-05"])])


def lapsed(a: domain.Application) -> ContractLapsed:
    return ContractLapsed(contract_id=CONTRACT, application_id=a.id, lapsed_at=AT)


def terminated(a: domain.Application) -> ContractTerminated:
    return ContractTerminated(contract_id=CONTRACT, application_id=a.id, terminated_on=AT.date(),
                              reason="refused_measures", member_iins=[m.iin for m in a.members])


def completed(a: domain.Application) -> ContractCompleted:
    return ContractCompleted(contract_id=CONTRACT, application_id=a.id, completed_on=AT.date())


def waiting(a: domain.Application) -> VerificationWaiting:
    return VerificationWaiting(application_id=a.id, system="income_registry", since=AT, attempts=1)


DEADLINE = datetime(2026, 4, 7, 19, 0, tzinfo=timezone.utc)


def overdue(a: domain.Application) -> VerificationOverdue:
    return VerificationOverdue(application_id=a.id, banks=["CASPKZKA", "HSBKKZKX"], asked_at=AT - timedelta(days=5),
                               deadline=DEADLINE)


def follow(a: domain.Application, event):  # noqa: ANN001, ANN201
    return domain.follow(a, event, event_id=EVENT_ID, at=AT)


@pytest.mark.parametrize("event, status, detail", [
    (waiting, "waiting_for_income_registry", {"system": "income_registry", "since": AT.isoformat(), "attempts": 1}),
    (overdue, "verification_overdue", {"banks": ["CASPKZKA", "HSBKKZKX"], "deadline": DEADLINE.isoformat()}),
    (verified_event, domain.VERIFIED, {"assessment_quarter": "2026-Q1", "incomes_found": 1}),
    (deferred, domain.DECISION_PENDING, {"reason": "MISSING_PARAMETER", "detail": "mci"}),
    (decided, domain.APPROVED, {"reasons": ["INCOME_BELOW_POVERTY_LINE"]}),
    (lambda a: decided(a, eligible=False), domain.REJECTED, {"reasons": ["INCOME_BELOW_POVERTY_LINE"]}),
    (drafted, domain.CONTRACT_DRAFTED, {"contract_id": str(CONTRACT)}),
    (signed, domain.CONTRACT_SIGNED, {"contract_id": str(CONTRACT)}),
    (scheduled, domain.PAYMENTS_SCHEDULED, {"payments": 2, "total": 51192}),
    (lapsed, domain.CONTRACT_NOT_SIGNED, {"contract_id": str(CONTRACT), "lapsed_at": AT.isoformat()}),
    (terminated, domain.CONTRACT_TERMINATED, {"contract_id": str(CONTRACT), "terminated_on": "2026-04-02",
                                              "reason": "refused_measures"}),
    (completed, domain.COMPLETED, {"contract_id": str(CONTRACT), "completed_on": "2026-04-02"}),
])
def test_each_event_moves_the_status_and_records_why(event, status, detail):
    application = submitted()
    if status in domain.AFTER_DECISION:  # these show only once the decision is held
        application, _ = domain.follow(application, decided(application), event_id=DECISION, at=AT - timedelta(1))
    followed, change = follow(application, event(application))
    assert change == domain.StatusChange(status, AT, EVENT_ID, detail)
    assert followed.status == status
    assert followed.timeline == application.timeline + (change,)


def test_a_decision_is_kept_without_the_family_it_was_made_for():
    application = submitted()
    followed, _ = follow(application, decided(application))
    assert followed.decision["eligible"] is True and followed.decision["kind"] == "unconditional"
    assert followed.decision["monthly"][0] == {"month": "2026-11", "tsa": 25596, "child_supplement": 0,
                                               "total": 25596}
    assert not {"application", "members", "able_bodied_iins"} & followed.decision.keys()


def test_the_contract_is_kept():
    application = submitted()
    assert follow(application, drafted(application))[0].contract_id == CONTRACT


def test_an_event_delivered_twice_moves_the_status_once():
    application = submitted()
    once, _ = follow(application, verified_event(application))
    twice, change = follow(once, verified_event(application))
    assert change is None and twice == once


def test_a_late_event_never_moves_the_status_back_but_keeps_its_place_in_the_timeline():
    application = submitted()
    approved, _ = domain.follow(application, decided(application), event_id=uuid.UUID(int=2), at=AT + timedelta(seconds=2))
    # verification's event reached intake after eligibility's, though it happened before it
    followed, change = domain.follow(approved, verified_event(application), event_id=uuid.UUID(int=1),
                                     at=AT + timedelta(seconds=1))
    assert followed.status == domain.APPROVED
    assert change == domain.StatusChange(domain.VERIFIED, AT + timedelta(seconds=1), uuid.UUID(int=1),
                                         {"assessment_quarter": "2026-Q1", "incomes_found": 1})
    assert [c.status for c in followed.timeline] == [domain.SUBMITTED, domain.VERIFIED, domain.APPROVED]
    assert [c.at for c in followed.timeline] == sorted(c.at for c in followed.timeline)


def test_a_rejection_is_final_and_frees_the_members():
    application = submitted()
    rejected, _ = follow(application, decided(application, eligible=False))
    assert not rejected.holds_members
    later, change = follow(rejected, drafted(application))
    assert later.status == domain.REJECTED and change is None  # the same event id: delivered twice
    later, change = domain.follow(rejected, drafted(application), event_id=uuid.UUID(int=3), at=AT)
    assert later.status == domain.REJECTED and change is not None


def test_an_application_waiting_for_the_registry_moves_on_when_it_is_verified():
    application = submitted()
    waits, _ = follow(application, waiting(application))
    assert waits.status == domain.WAITING_FOR_INCOME_REGISTRY
    assert domain.tsa_status(waits).status == "applying"
    verified, change = domain.follow(waits, verified_event(application), event_id=uuid.UUID(int=5),
                                     at=AT + timedelta(minutes=10))
    assert change is not None and verified.status == domain.VERIFIED
    assert [c.status for c in verified.timeline] == ["submitted", "waiting_for_income_registry", "verified"]
    # a wait announced late (after the evidence) does not move it back
    late, change = domain.follow(verified, waiting(application), event_id=uuid.UUID(int=4), at=AT)
    assert late.status == domain.VERIFIED and change is not None


def test_an_application_a_bank_has_not_answered_waits_visibly_until_it_is_verified():
    """`verification.overdue` comes after the registry's wait and before the evidence: the
    application shows it, and the bank's late answer (verification completes) moves it on; an
    overdue notice that arrives after the evidence does not move it back."""
    application = submitted()
    waits, _ = follow(application, waiting(application))
    late, change = domain.follow(waits, overdue(application), event_id=uuid.UUID(int=6), at=AT + timedelta(days=5))
    assert change is not None and late.status == domain.VERIFICATION_OVERDUE
    assert domain.tsa_status(late).status == "applying"
    assert late.holds_members
    verified, _ = domain.follow(late, verified_event(application), event_id=uuid.UUID(int=7),
                                at=AT + timedelta(days=6))
    assert verified.status == domain.VERIFIED
    assert [c.status for c in verified.timeline] == ["submitted", "waiting_for_income_registry",
                                                     "verification_overdue", "verified"]
    again, change = domain.follow(verified, overdue(application), event_id=uuid.UUID(int=8), at=AT + timedelta(days=7))
    assert again.status == domain.VERIFIED and change is not None


@pytest.mark.parametrize("event", [waiting, overdue, verified_event, deferred, decided, drafted, signed, scheduled])
def test_every_event_names_its_application(event):
    application = submitted()
    assert domain.application_id_of(event(application)) == application.id


def test_a_terminated_contract_is_final_whatever_arrives_after_it():
    application = submitted()
    ended, _ = domain.follow(application, terminated(application), event_id=uuid.UUID(int=1), at=AT)
    later, change = domain.follow(ended, scheduled(ended), event_id=uuid.UUID(int=2), at=AT + timedelta(hours=1))
    assert later.status == domain.CONTRACT_TERMINATED and change is not None  # kept in the timeline only
    assert not later.holds_members  # the family may apply again (eligibility applies the ban)


@pytest.mark.parametrize(("system", "status"), [
    ("accounts_registry", "waiting_for_accounts_registry"),
    ("real_estate_registry", "waiting_for_real_estate_registry"),
    ("vehicle_registry", "waiting_for_vehicle_registry"),
    ("bank:HSBKKZKX", "waiting_for_external_system"),  # any other system: named in the detail
])
def test_a_wait_for_any_system_is_a_status_the_api_can_show(system, status):
    from typing import get_args

    from services.intake.schemas import ApplicationStatus

    first = submitted()
    application, _ = domain.follow(first, waiting(first), event_id=uuid.uuid4(), at=AT)
    application, change = domain.follow(application, VerificationWaiting(
        application_id=application.id, system=system, since=AT + timedelta(minutes=5), attempts=1),
        event_id=uuid.uuid4(), at=AT + timedelta(minutes=5))
    assert application.status == status  # one wait after another: the latest shows
    assert change.detail["system"] == system
    assert status in get_args(ApplicationStatus) and status in domain.TSA_STATUS
    verified, _ = domain.follow(application, verified_event(application), event_id=uuid.uuid4(),
                                at=AT + timedelta(minutes=6))
    assert verified.status == "verified"


def test_a_contract_that_arrives_before_its_decision_waits_for_it():
    """Intake follows eligibility and contracts in parallel: the contract drafted for a decision
    can be applied before the decision. The citizen never sees a contract without the decision;
    the step shows as soon as the decision arrives."""
    application = submitted()
    early, change = domain.follow(application, drafted(application), event_id=uuid.UUID(int=3),
                                  at=AT + timedelta(seconds=3))
    assert change is not None and early.status == domain.SUBMITTED and early.decision is None
    assert [c.status for c in early.timeline] == [domain.SUBMITTED, domain.CONTRACT_DRAFTED]
    decided_now, _ = domain.follow(early, decided(application), event_id=uuid.UUID(int=2),
                                   at=AT + timedelta(seconds=2))
    assert decided_now.status == domain.CONTRACT_DRAFTED and decided_now.decision is not None
    assert [c.status for c in decided_now.timeline] == [domain.SUBMITTED, domain.APPROVED, domain.CONTRACT_DRAFTED]


def test_a_rejection_releases_nothing_held():
    application = submitted()
    early, _ = domain.follow(application, drafted(application), event_id=uuid.UUID(int=3), at=AT)
    rejected, _ = domain.follow(early, decided(application, eligible=False), event_id=uuid.UUID(int=2), at=AT)
    assert rejected.status == domain.REJECTED
