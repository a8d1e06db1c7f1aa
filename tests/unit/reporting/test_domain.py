"""The read model: what each event tells about its application's row."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timezone

import pytest

from services.reporting import domain
from shared.events.contracts import (
    ApplicationSubmitted,
    ContractDrafted,
    ContractSigned,
    EligibilityDeferred,
    PaymentScheduled,
    VerificationCompleted,
    VerificationOverdue,
    VerificationWaiting,
)
from tests.support import decided_event, person

AT = datetime(2026, 11, 22, 10, 0, tzinfo=timezone.utc)
decided = decided_event(members=[person(date(1990, 1, 1), "female", "applicant"),
                                 person(date(2020, 1, 1), "male", "child")], region="470000000").payload()
APP = decided.application.application_id
CONTEXT = decided.application
WHERE = {"region_kato": "470000000", "settlement": "urban", "channel": "egov", "quarter": "2026-Q4"}
# The mother (36, not employed, able to work) and her son (6), as counts of seed 003's statuses.
FAMILY = {"members": 2, "children": 1, "employed": 0, "carers": 0, "students": 0, "unemployed": 1, "other_status": 0}
IDS = dict(contract_id=uuid.UUID(int=1), application_id=APP, decision_id=decided.decision_id)


@pytest.mark.parametrize("event, stage, facts", [
    (ApplicationSubmitted(application=CONTEXT, expense_check_consent=False, members=decided.members),
     "submitted", WHERE | FAMILY | {"submitted_at": AT}),
    (VerificationWaiting(application_id=APP, system="income_registry", since=AT, attempts=1),
     "verification_waiting", {}),
    (VerificationOverdue(application_id=APP, banks=["CASPKZKA"], asked_at=AT, deadline=AT), "verification_overdue", {}),
    (VerificationCompleted(application=CONTEXT, evidence_id=uuid.UUID(int=2), assessment_quarter="2026-Q3",
                           members=decided.members, incomes=[]),
     "verified", WHERE | FAMILY),
    (EligibilityDeferred(application=CONTEXT, reason="MISSING_PARAMETER", detail="mci"), "decision_pending", WHERE),
    (decided, "decided", WHERE | FAMILY | {"decided_at": AT, "eligible": True, "kind": "unconditional",
                                           "assigned_total": 51192}),
    (ContractDrafted(**IDS, obligations=[]), "contract_drafted", {}),
    (ContractSigned(**IDS, signed_at=AT), "contract_signed", {}),
    (PaymentScheduled(application_id=APP, decision_id=decided.decision_id, region_kato="470000000",
                      settlement="urban", bank_code="HSBKKZKX", payments=[], total=51192),
     "payments_scheduled", {"scheduled_total": 51192}),
])
def test_each_event_marks_a_stage_and_tells_what_it_knows(event, stage, facts):
    assert domain.fact_change(event, AT) == domain.FactChange(APP, stage, facts)


def test_stages_run_in_the_order_of_the_flow():
    assert domain.STAGES == ("submitted", "verification_waiting", "verification_overdue", "verified",
                             "decision_pending", "decided", "contract_drafted", "contract_signed", "payments_scheduled",
                             "withdrawn")


def test_undecided_applications_are_those_not_yet_decided():
    assert domain.undecided({"submitted": 2, "verified": 1, "decision_pending": 4, "decided": 7,
                             "payments_scheduled": 3}) == 7


def test_an_application_overdue_at_a_bank_is_undecided():
    """A bank that has not answered by its deadline leaves the application waiting: never decided."""
    assert "verification_overdue" in domain.UNDECIDED_STAGES
    assert domain.undecided({"verification_overdue": 3, "decided": 1}) == 3


def test_a_withdrawn_application_is_final_and_not_undecided():
    import uuid as _uuid
    from datetime import datetime as _datetime, timezone as _timezone

    from shared.events.contracts import ApplicationWithdrawn

    at = _datetime(2026, 11, 22, tzinfo=_timezone.utc)
    event = ApplicationWithdrawn(application_id=_uuid.UUID(int=3), reason="other", withdrawn_at=at)
    assert domain.fact_change(event, at) == domain.FactChange(_uuid.UUID(int=3), "withdrawn")
    assert domain.stage_rank("withdrawn") == len(domain.STAGES) - 1  # nothing moves it back
    assert domain.undecided({"withdrawn": 2, "submitted": 1}) == 1


def test_an_extension_sums_its_months_and_a_refusal_assigns_nothing():
    import uuid as _uuid

    from services.reporting.domain import extension_facts
    from shared.events.contracts import EligibilityExtended, MonthlyAmount

    months = [MonthlyAmount(month=m, tsa=30000, child_supplement=6488, total=36488) for m in ("2027-04", "2027-05")]
    common = dict(application_id=_uuid.uuid4(), decision_id=_uuid.uuid4(), run_id=_uuid.uuid4(),
                  period_quarter="2027-Q2", kind="unconditional", region_kato="610000000", settlement="rural")
    extended = extension_facts(EligibilityExtended(**common, eligible=True, monthly=months,
                                                   reasons=["INCOME_BELOW_POVERTY_LINE", "CHILD_SUPPLEMENT"]))
    assert (extended["quarter"], extended["tsa"], extended["child_supplement"], extended["assigned_total"]) == (
        "2027-Q2", 60000, 12976, 72976)
    refused = extension_facts(EligibilityExtended(**common, eligible=False, monthly=months,
                                                  reasons=["INCOME_NOT_BELOW_POVERTY_LINE"]))
    assert (refused["tsa"], refused["child_supplement"], refused["assigned_total"]) == (0, 0, 0)
    assert refused["reasons"] == ["INCOME_NOT_BELOW_POVERTY_LINE"] and not refused["eligible"]
