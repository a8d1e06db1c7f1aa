"""Every event contract declares each field once and survives the trip through the envelope
and the broker's bytes unchanged."""

from __future__ import annotations

import ast
import inspect
import textwrap
from datetime import date, datetime, timezone
from decimal import Decimal
from uuid import UUID

import orjson
import pytest
from pydantic import BaseModel

from shared.events import Envelope, registered
from shared.events import contracts as c

APP = UUID("0190a1b2-c3d4-7e5f-8a9b-000000000001")
OTHER = UUID("0190a1b2-c3d4-7e5f-8a9b-000000000002")
CASE = c.CaseContext(application_id=APP, application_date=date(2026, 11, 2), region_kato="610000000",
                     settlement="rural", channel="egov",
                     bank_account=c.BankAccount(iban="KZ86125KZT5004100100", bank_code="HSBKKZKX"))
MEMBER = c.FamilyMember(iin="550211400017", full_name="A. S.", birth_date=date(1955, 2, 11), sex="female",
                        relation="applicant")

# One example of every registered event; a new contract without one fails test_every_event_has_an_example.
EXAMPLES: dict[tuple[str, int], BaseModel] = {
    ("application.submitted", 1): c.ApplicationSubmitted(application=CASE, expense_check_consent=True,
                                                         members=[MEMBER]),
    ("verification.completed", 1): c.VerificationCompleted(
        application=CASE, evidence_id=OTHER, assessment_quarter="2026-Q3", members=[MEMBER],
        incomes=[c.IncomeRecord(iin=MEMBER.iin, type="pension", month="2026-07", amount=Decimal("45000.50"))]),
    ("eligibility.decided", 1): c.EligibilityDecided(
        application=CASE, decision_id=OTHER, eligible=True, kind="unconditional", assessment_quarter="2026-Q3",
        period_quarter="2026-Q4", poverty_line=35596, per_capita_income=Decimal("15000.17"),
        monthly=[c.MonthlyAmount(month="2026-11", tsa=20596, child_supplement=6488, total=27084)],
        reasons=["INCOME_BELOW_POVERTY_LINE"], rules_version="tsa-2025.1", members=[MEMBER],
        able_bodied_iins=[]),
    ("eligibility.deferred", 1): c.EligibilityDeferred(application=CASE, reason="MISSING_PARAMETER",
                                                       detail="no value of parameter 'mci'"),
    ("parameter.recorded", 1): c.ParameterRecorded(
        parameter_id=OTHER, name="adult_age", region_kato=None, valid_from=date(2027, 1, 1), valid_to=None,
        value="18", recorded_at=datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)),
    ("contract.drafted", 1): c.ContractDrafted(contract_id=OTHER, application_id=APP, decision_id=OTHER,
                                               obligations=[c.Obligation(iin=MEMBER.iin, measure="job_placement")]),
    ("contract.signed", 1): c.ContractSigned(contract_id=OTHER, application_id=APP, decision_id=OTHER,
                                             signed_at=datetime(2026, 11, 3, 9, 30, tzinfo=timezone.utc)),
    ("payment.scheduled", 1): c.PaymentScheduled(
        application_id=APP, decision_id=OTHER, region_kato="610000000", settlement="rural", bank_code="HSBKKZKX",
        payments=[c.ScheduledPayment(payment_id=OTHER, month="2026-11", tsa=1, child_supplement=2, total=3)],
        total=3),
    ("payment.settled", 1): c.PaymentSettled(payment_id=OTHER, application_id=APP, month="2026-11", total=3,
                                             bank_code="HSBKKZKX"),
    ("payment.failed", 1): c.PaymentFailed(payment_id=OTHER, application_id=APP, month="2026-11", total=3,
                                           bank_code="HSBKKZKX", reason="account closed"),
    ("verification.waiting", 1): c.VerificationWaiting(
        application_id=APP, system="income_registry", since=datetime(2026, 11, 3, 9, 30, tzinfo=timezone.utc),
        attempts=1),
    ("contract.terminated", 1): c.ContractTerminated(
        contract_id=APP, application_id=APP, terminated_on=date(2027, 1, 14), reason="refused_measures",
        member_iins=["880303400011"]),
    ("contract.lapsed", 1): c.ContractLapsed(contract_id=APP, application_id=APP,
                                             lapsed_at=datetime(2026, 12, 3, 19, 0, tzinfo=timezone.utc)),
    ("contract.completed", 1): c.ContractCompleted(contract_id=APP, application_id=APP, completed_on=date(2027, 3, 31)),
    ("verification.overdue", 1): c.VerificationOverdue(
        application_id=APP, banks=["HSBKKZKX"], asked_at=datetime(2026, 11, 3, 9, 30, tzinfo=timezone.utc),
        deadline=datetime(2026, 11, 4, 19, 0, tzinfo=timezone.utc)),
    ("reconciliation.requested", 1): c.ReconciliationRequested(
        application_id=APP, status="verified", owner="eligibility", redrive=["verification", "eligibility"],
        attempt=1, max_attempts=5, stuck_since=datetime(2026, 11, 3, 9, 30, tzinfo=timezone.utc)),
}

CONSENT = c.ConsentRecord(
    consent_id=OTHER, application_id=APP, iin=MEMBER.iin, purpose="tsa_expense_check",
    data_categories=["bank_cash_flow_aggregates", "bank_deposits", "bank_loans"], assessment_quarter="2026-Q3",
    controller="Ministry of Labour", legal_basis="consent", banks=[], method="sms_1414", status="requested",
    requested_at=datetime(2026, 11, 2, 9, 30, tzinfo=timezone.utc),
    expires_at=datetime(2026, 11, 3, 19, 0, tzinfo=timezone.utc))
ANSWERED = CONSENT.model_copy(update={"answered_at": datetime(2026, 11, 2, 10, 0, tzinfo=timezone.utc),
                                      "answered_via": "sms"})
EXAMPLES |= {
    ("fdc.invitation.issued", 1): c.FdcInvitationIssued(
        invitation_id=UUID(int=4), quarter="2026-Q4", region_kato="610000000", settlement="rural",
        channel="fdc_sms", category="D", members=5, invited_at=datetime(2026, 11, 2, 9, tzinfo=timezone.utc),
        apply_by=date(2026, 12, 2)),
    ("fdc.invitation.converted", 1): c.FdcInvitationConverted(
        invitation_id=UUID(int=4), application_id=UUID(int=1), quarter="2026-Q4", region_kato="610000000",
        channel="fdc_sms", applied_at=datetime(2026, 11, 5, 10, tzinfo=timezone.utc)),
    ("eligibility.extended", 1): c.EligibilityExtended(
        application_id=UUID(int=1), decision_id=UUID(int=2), run_id=UUID(int=3), period_quarter="2027-Q1",
        eligible=True, kind="conditional", region_kato="610000000", settlement="rural",
        monthly=[c.MonthlyAmount(month="2027-01", tsa=12000, child_supplement=0, total=12000)],
        reasons=["INCOME_BELOW_POVERTY_LINE"], contract_carried_over=True),
    ("application.withdrawn", 1): c.ApplicationWithdrawn(application_id=UUID(int=1), reason="no_longer_needed",
                                                         withdrawn_at=datetime(2026, 11, 22, 5, tzinfo=timezone.utc)),
    ("consent.requested", 1): c.ConsentRequested(consent=CONSENT, family_consent="pending"),
    ("consent.granted", 1): c.ConsentGranted(consent=ANSWERED.model_copy(update={"status": "granted"}),
                                             family_consent="granted"),
    ("consent.refused", 1): c.ConsentRefused(consent=ANSWERED.model_copy(update={"status": "refused"}),
                                             family_consent="not_given"),
    ("consent.expired", 1): c.ConsentExpired(consent=CONSENT.model_copy(update={"status": "expired"}),
                                             family_consent="not_given"),
    ("consent.withdrawn", 1): c.ConsentWithdrawn(
        consent=ANSWERED.model_copy(update={"status": "withdrawn",
                                            "withdrawn_at": datetime(2026, 11, 2, 11, 0, tzinfo=timezone.utc)}),
        family_consent="not_given"),
}

CONTRACTS = registered()


def _declared_fields(model: type[BaseModel]) -> list[str]:
    """Field names in the order the class body annotates them (a second annotation of the same
    name silently replaces the first in pydantic, which is exactly the mistake to catch)."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(model)))
    body = tree.body[0].body  # type: ignore[attr-defined]
    return [node.target.id for node in body if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)]


def _all_models() -> set[type[BaseModel]]:
    """Every contract model, and every model nested in one."""
    seen: set[type[BaseModel]] = set()
    stack = list(CONTRACTS.values())
    while stack:
        model = stack.pop()
        if model in seen:
            continue
        seen.add(model)
        for field in model.model_fields.values():
            for arg in [field.annotation, *getattr(field.annotation, "__args__", ())]:
                if isinstance(arg, type) and issubclass(arg, BaseModel):
                    stack.append(arg)
    return seen


@pytest.mark.parametrize("model", sorted(_all_models(), key=lambda m: m.__name__), ids=lambda m: m.__name__)
def test_no_field_is_declared_twice(model: type[BaseModel]) -> None:
    names = _declared_fields(model)
    assert len(names) == len(set(names)), f"{model.__name__} declares {sorted(n for n in names if names.count(n) > 1)} twice"


def test_every_event_has_an_example() -> None:
    assert set(EXAMPLES) == set(CONTRACTS)


@pytest.mark.parametrize("key", sorted(CONTRACTS), ids=lambda k: f"{k[0]}.v{k[1]}")
def test_round_trip_through_the_envelope(key: tuple[str, int]) -> None:
    payload = EXAMPLES[key]
    assert type(payload) is CONTRACTS[key]
    envelope = Envelope.wrap(payload, source="test", key=str(APP))
    wire = orjson.dumps(envelope.model_dump(mode="json"))
    received = Envelope.model_validate(orjson.loads(wire))
    assert (received.type, received.version) == key
    assert received == envelope
    assert received.payload() == payload
