"""The reconciliation sweep's rules: who moves an application on from each status, who
re-publishes when it does not move, and how often it is asked again."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from services.intake.reconciliation import SWEPT_STATUSES, NextStep, ReconciliationPolicy, next_step
from services.intake.settings import IntakeSettings

AT = datetime(2026, 12, 5, 8, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("status, kind, step", [
    # stuck                 decision kind     the owner of the next step, and who re-publishes
    ("submitted",           None,             NextStep("verification", ("intake", "verification"))),
    ("verified",            None,             NextStep("eligibility", ("verification", "eligibility"))),
    ("approved",            "conditional",    NextStep("contracts", ("eligibility", "contracts"))),
    ("approved",            "unconditional",  NextStep("payments", ("eligibility", "payments"))),
    ("contract_signed",     None,             NextStep("payments", ("contracts", "payments"))),
    # waiting for a person, or visibly for a system, or final: not swept
    ("contract_drafted",    "conditional",    None),
    ("waiting_for_income_registry", None,     None),
    ("verification_overdue", None,            None),  # waits for a bank past its deadline
    ("decision_pending",    None,             None),
    ("payments_scheduled",  "unconditional",  None),
    ("rejected",            None,             None),
    ("withdrawn",           None,             None),
])
def test_who_re_drives_an_application_stuck_in_each_status(status, kind, step):
    assert next_step(status, kind) == step
    assert (status in SWEPT_STATUSES) is (step is not None)


def test_each_re_drive_of_a_status_waits_twice_as_long_as_the_one_before():
    policy = ReconciliationPolicy(sla={"verified": timedelta(minutes=5)}, max_attempts=5)
    assert [policy.next_due("verified", attempt, AT) - AT for attempt in (1, 2, 3, 4)] == [
        timedelta(minutes=5), timedelta(minutes=10), timedelta(minutes=20), timedelta(minutes=40)]


def test_the_time_limits_come_from_the_settings():
    settings = IntakeSettings(reconciliation_sla_seconds={"submitted": 120, "approved": 60},
                              reconciliation_max_attempts=3)
    policy = ReconciliationPolicy.of(settings)
    assert policy.sla == {"submitted": timedelta(minutes=2), "approved": timedelta(minutes=1)}
    assert policy.max_attempts == 3


@pytest.mark.parametrize("sla", [{"contract_drafted": 60}, {"submitted": 0}, {"verified": -1}])
def test_a_status_the_sweep_does_not_re_drive_or_a_limit_that_is_not_positive_is_refused(sla):
    with pytest.raises(ValidationError, match="reconciliation_sla_seconds"):
        IntakeSettings(reconciliation_sla_seconds=sla)
