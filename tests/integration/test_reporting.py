"""Reporting: the read model follows every service's events, in whatever order they arrive, and
counts each application once however often its events are delivered."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta, timezone

import pytest

from shared.events import Envelope
from shared.events.contracts import (
    ApplicationSubmitted,
    EligibilityDecided,
    PaymentScheduled,
    ScheduledPayment,
    VerificationCompleted,
    VerificationOverdue,
)
from tests.support import assert_documents_what_it_answers, assert_refused_without_scope, decided_event, eventually, on_partition_of, person, publish

STATS = frozenset({"stats:read"})
# No other test has an application in Mangystau: the figures of this region are this test's own.
REGION = "470000000"


def scheduled_event(decided: Envelope) -> Envelope:
    """The `payment.scheduled` payments would emit for an approved decision."""
    decision: EligibilityDecided = decided.payload()  # type: ignore[assignment]
    return Envelope.wrap(PaymentScheduled(
        application_id=decision.application.application_id, decision_id=decision.decision_id,
        region_kato=decision.application.region_kato, settlement=decision.application.settlement,
        bank_code=decision.application.bank_account.bank_code,
        payments=[ScheduledPayment(payment_id=uuid.uuid4(), month=m.month, tsa=m.tsa,
                                   child_supplement=m.child_supplement, total=m.total) for m in decision.monthly],
        total=sum(m.total for m in decision.monthly),
    ), source="payments", key=decided.key)


def family(size: int) -> list[dict]:
    return [person(date(1985, 1, 1), "female", "applicant")] + [
        person(date(2015, 1, 1 + i), "male", "child") for i in range(size - 1)]


async def test_a_regions_figures_are_exact_and_a_redelivery_counts_once(running_service, broker, internal_token):
    three = decided_event(kind="unconditional", members=family(3), region=REGION)
    two = decided_event(kind="unconditional", members=family(2), region=REGION)
    rejected = decided_event(eligible=False, members=family(4), region=REGION)
    three_paid, two_paid = scheduled_event(three), scheduled_event(two)
    async with running_service("reporting") as client:
        # Each topic's events on one partition, the redelivered ones first: once the last
        # (`two`'s) shows, every redelivery before it has been handled.
        await publish(broker.bootstrap, "qamqor.eligibility", three, times=2)
        await publish(broker.bootstrap, "qamqor.eligibility", on_partition_of(rejected, three))
        await publish(broker.bootstrap, "qamqor.eligibility", on_partition_of(two, three))
        await publish(broker.bootstrap, "qamqor.payments", three_paid, times=2)
        await publish(broker.bootstrap, "qamqor.payments", on_partition_of(two_paid, three_paid))

        async def summary() -> dict:
            response = await client.get("/v1/stats/summary", params={"region_kato": REGION},
                                        headers=internal_token("ops", STATS))
            assert response.status_code == 200, response.text
            return response.json()

        async def all_handled() -> dict | None:
            figures = await summary()
            return figures if figures["applications_by_stage"] == {"payments_scheduled": 2, "decided": 1} else None

        paid = 2 * 25596  # each approved family: two months of 25,596 tenge
        assert await eventually(all_handled) == {
            "applications_by_stage": {"payments_scheduled": 2, "decided": 1},
            "approved_families": 2,
            "rejected_families": 1,
            "recipients": 3 + 2,
            "scheduled_total_tenge": 2 * paid,
            "undecided": 0,
            "extended_families": 0,
            "extension_ended_families": 0,
        }
        mangystau = {"region_kato": REGION, "region": "Mangystau", "applications": 3, "approved_families": 2,
                     "recipients": 5, "undecided": 0, "scheduled_total_tenge": 2 * paid, "extended_families": 0,
                     "extension_ended_families": 0}
        regions = await client.get("/v1/stats/regions", params={"region_kato": REGION},
                                   headers=internal_token("ops", STATS))
        assert regions.json() == [mangystau]
        everywhere = (await client.get("/v1/stats/regions", headers=internal_token("ops", STATS))).json()
        assert next(r for r in everywhere if r["region_kato"] == REGION) == mangystau


@pytest.mark.parametrize("region", ["47", "471010000", "990000000", "47000000\u0000"])
async def test_a_region_filter_must_be_a_code_of_the_classifier(running_service, internal_token, region):
    async with running_service("reporting") as client:
        for path in ("/v1/stats/summary", "/v1/stats/regions"):
            response = await client.get(path, params={"region_kato": region}, headers=internal_token("ops", STATS))
            assert response.status_code == 422
            assert response.headers["content-type"] == "application/problem+json"
            assert [e["field"] for e in response.json()["errors"]] == ["query.region_kato"]


async def test_statistics_carry_no_personal_data(running_service, broker, internal_token):
    """Figures only: no IIN, name or birth date of a family reaches a statistics answer, and no
    answer names data subjects."""
    members = family(2)
    decided = decided_event(kind="unconditional", members=members, region="430000000")
    async with running_service("reporting") as client:
        await publish(broker.bootstrap, "qamqor.eligibility", decided)

        async def counted():
            figures = await client.get("/v1/stats/regions", params={"region_kato": "430000000"},
                                       headers=internal_token("ops", STATS))
            return figures if figures.json() else None

        regions = await eventually(counted)
        summary = await client.get("/v1/stats/summary", headers=internal_token("ops", STATS))
        for answer in (regions, summary):
            assert "x-qamqor-data-subjects" not in answer.headers
            for member in members:
                assert member["iin"] not in answer.text and member["full_name"] not in answer.text
                assert member["birth_date"] not in answer.text


async def test_every_route_refuses_a_caller_without_its_scope(running_service, internal_token):
    async with running_service("reporting") as client:
        for path in ("/v1/stats/summary", "/v1/stats/regions"):
            await assert_refused_without_scope(client, internal_token, "GET", path, "stats:read")


def test_the_openapi_documents_each_answer_and_error():
    assert_documents_what_it_answers("reporting")


# No other test has an application in Kostanay: the backlog of this region is this test's own.
OVERDUE_REGION = "390000000"


async def test_an_application_a_bank_has_not_answered_shows_overdue_until_verified(running_service, broker,
                                                                                    internal_token):
    """`verification.overdue`: the application waits for a bank past its deadline. Ops see it in
    the backlog (and as undecided) until verification completes; a redelivery counts once."""
    overdue, answered = (decided_event(members=family(2), region=OVERDUE_REGION) for _ in range(2))
    at = datetime(2026, 12, 1, 6, 0, tzinfo=timezone.utc)

    def submitted(decided: Envelope) -> Envelope:
        return Envelope.wrap(ApplicationSubmitted(application=decided.payload().application, expense_check_consent=False,
                                                  members=decided.payload().members), source="intake", key=decided.key)

    def late(decided: Envelope) -> Envelope:
        return Envelope.wrap(VerificationOverdue(application_id=uuid.UUID(decided.key), banks=["CASPKZKA"],
                                                 asked_at=at, deadline=at + timedelta(days=3)),
                             source="verification", key=decided.key)

    def completed(decided: Envelope) -> Envelope:
        decision = decided.payload()
        return Envelope.wrap(VerificationCompleted(application=decision.application, evidence_id=uuid.uuid4(),
                                                   assessment_quarter="2026-Q3", members=decision.members, incomes=[]),
                             source="verification", key=decided.key)

    async with running_service("reporting") as client:
        for event in (overdue, answered):
            await publish(broker.bootstrap, "qamqor.intake", submitted(event))
            await publish(broker.bootstrap, "qamqor.verification", late(event), times=2)
        # The bank answers one of them: verification completes it.
        await publish(broker.bootstrap, "qamqor.verification", on_partition_of(completed(answered), late(answered)))

        async def backlog() -> dict | None:
            # The stages first: once both events are handled, the backlog read after agrees.
            stages = (await client.get("/v1/stats/summary", params={"region_kato": OVERDUE_REGION},
                                       headers=internal_token("ops", STATS))).json()["applications_by_stage"]
            if stages != {"verification_overdue": 1, "verified": 1}:
                return None
            response = await client.get("/v1/stats/backlog", params={"region_kato": OVERDUE_REGION},
                                        headers=internal_token("ops", STATS))
            assert response.status_code == 200, response.text
            return response.json()

        body = await eventually(backlog)
        assert body["verification_overdue"] == 1, body
        assert body["waiting_for_systems"] == 0
        assert body["undecided"] == 2  # the overdue one and the verified one, neither decided yet
