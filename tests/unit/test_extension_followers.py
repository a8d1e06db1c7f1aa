"""How payments, contracts and intake follow a reassessment run's `eligibility.extended` (issue 12):
the new quarter's months planned once each, a signed contract carried over (never a new one), the
application's period extended or ended with the quarter it covers; delivered twice, nothing more."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import date, datetime, timezone

from services.contracts import domain as contracts
from services.intake import domain as intake
from services.payments import domain as payments
from shared.events.contracts import EligibilityExtended, MonthlyAmount
from tests.support import decided_event, person, sequential_ids
from tests.unit.intake.support import form, submit

AT = datetime(2026, 12, 20, 5, tzinfo=timezone.utc)
Q1 = ("2027-01", "2027-02", "2027-03")


def extension(application_id: uuid.UUID, *, eligible: bool = True, carried: bool = False,
              totals: tuple[int, ...] = (30000, 30000, 30000)) -> EligibilityExtended:
    return EligibilityExtended(
        application_id=application_id, decision_id=uuid.UUID(int=77), run_id=uuid.UUID(int=78),
        period_quarter="2027-Q1", eligible=eligible, kind="conditional" if carried else "unconditional",
        region_kato="610000000", settlement="urban",
        monthly=[MonthlyAmount(month=m, tsa=t, child_supplement=0, total=t) for m, t in zip(Q1, totals)]
        if eligible else [],
        reasons=["INCOME_BELOW_POVERTY_LINE"] if eligible else ["INCOME_NOT_BELOW_POVERTY_LINE"],
        contract_carried_over=carried)


# ---- payments ----------------------------------------------------------------------------------

def assigned(kind: str = "unconditional") -> payments.Assignment:
    decision = decided_event(kind=kind).payload()
    return payments.assign(None, decision, already_scheduled=frozenset(), new_id=sequential_ids()).assignment


def test_payments_plan_each_new_month_once_under_the_extensions_decision():
    assignment = assigned()
    ext = extension(assignment.application_id, totals=(30000, 31000, 0))
    step = payments.extend(assignment, ext, already_scheduled=frozenset({"2026-11", "2026-12"}), new_id=sequential_ids())
    assert [(p.month, p.total, p.decision_id) for p in step.payments] == [
        ("2027-01", 30000, ext.decision_id), ("2027-02", 31000, ext.decision_id)]  # nothing to pay in March
    assert step.assignment.decision_id == assignment.decision_id and step.assignment.period_quarter == "2027-Q1"
    assert [m.month for m in step.assignment.monthly] == ["2026-11", "2026-12", *Q1]
    assert step.event.decision_id == ext.decision_id and step.event.total == 61000
    # delivered again: the months are planned already
    again = payments.extend(step.assignment, ext, already_scheduled=frozenset({"2026-11", "2026-12", "2027-01",
                                                                               "2027-02"}), new_id=sequential_ids())
    assert again is None


def test_payments_plan_nothing_for_a_refusal_nor_after_a_withdrawal():
    assignment = assigned()
    assert payments.extend(assignment, extension(assignment.application_id, eligible=False),
                           already_scheduled=frozenset(), new_id=sequential_ids()) is None
    withdrawn = replace(assignment, terminated_on=date(2000, 1, 1))
    step = payments.extend(withdrawn, extension(assignment.application_id), already_scheduled=frozenset(),
                           new_id=sequential_ids())
    assert {p.status for p in step.payments} == {payments.CANCELLED} and step.event is None


def test_a_conditional_assignment_still_waiting_for_its_contract_keeps_waiting():
    waiting = assigned("conditional")
    step = payments.extend(waiting, extension(waiting.application_id, carried=True), already_scheduled=frozenset(),
                           new_id=sequential_ids())
    assert step.payments == () and step.assignment.status == payments.AWAITING_CONTRACT
    assert [m.month for m in step.assignment.monthly][-3:] == list(Q1)


# ---- contracts ---------------------------------------------------------------------------------

def signed_contract() -> contracts.SocialContract:
    mother = person(date(1991, 1, 1), "female", "applicant")
    decision = decided_event(kind="conditional", members=[mother], able_bodied=[mother["iin"]]).payload()
    contract, _ = contracts.draft(None, decision, contract_id=uuid.UUID(int=1), at=AT)
    return contracts.sign(contract, mother["iin"], "portal", AT)[0]


def test_a_signed_contract_is_carried_over_to_the_new_quarter():
    contract = signed_contract()
    assert contract.ends_on == date(2026, 12, 31)
    carried = contracts.carry_over(contract, "2027-Q1")
    assert (carried.id, carried.status, carried.period_quarter, carried.ends_on) == (
        contract.id, contracts.SIGNED, "2027-Q1", date(2027, 3, 31))
    assert contracts.carry_over(carried, "2027-Q1") is None  # delivered again
    assert contracts.carry_over(None, "2027-Q1") is None
    assert contracts.carry_over(replace(contract, status=contracts.TERMINATED), "2027-Q1") is None


# ---- intake ------------------------------------------------------------------------------------

def approved() -> intake.Application:
    application = submit(form())[0]
    decided = decided_event(application_id=application.id).payload()
    application, _ = intake.follow(application, decided, event_id=uuid.UUID(int=1), at=AT)
    return application


def test_an_extension_keeps_the_application_active_through_the_new_quarter():
    application = approved()
    assert intake.period_last_day(application.decision) == date(2026, 12, 31)
    extended, change = intake.follow(application, extension(application.id), event_id=uuid.UUID(int=2), at=AT)
    assert extended.status == application.status and change.status == intake.EXTENDED
    assert change.detail["period_quarter"] == "2027-Q1" and change.detail["total"] == 90000
    assert intake.period_last_day(extended.decision) == date(2027, 3, 31)
    assert not intake.period_over(extended, date(2027, 1, 2))
    same, none = intake.follow(extended, extension(application.id), event_id=uuid.UUID(int=2), at=AT)
    assert none is None and same == extended


def test_a_refusal_is_shown_and_the_application_ends_with_its_quarter():
    application = approved()
    refused, change = intake.follow(application, extension(application.id, eligible=False), event_id=uuid.UUID(int=3),
                                    at=AT)
    assert change.status == intake.NOT_EXTENDED and change.detail["reasons"] == ["INCOME_NOT_BELOW_POVERTY_LINE"]
    assert refused.decision == application.decision and refused.status == application.status
    assert intake.period_over(refused, date(2027, 1, 2))
