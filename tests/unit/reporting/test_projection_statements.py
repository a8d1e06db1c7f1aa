"""The projection's statements are built once, on the tables: two events of the same kind run the
same statement object with their own parameters, and none goes through the ORM's insert path."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from services.reporting import domain, repository

AT = datetime(2026, 10, 1, tzinfo=UTC)


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, Any]] = []

    async def execute(self, statement: Any, params: Any = None) -> None:
        self.calls.append((statement, params))


async def project_twice(session: Recorder) -> None:
    for _ in range(2):
        application, contract, payment = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        await repository.upsert_fact(session, domain.FactChange(application, "decided", {"eligible": True}), AT)
        await repository.set_consent_flags(session, application_id=application,
                                           flags=("consent_requested", "consent_granted"), at=AT)
        await repository.upsert_contract(session, contract_id=contract, application_id=application, flag="drafted",
                                         measures={"training": 2, "job_placement": 1}, at=AT)
        await repository.add_planned_payment(session, domain.PaymentPlanned(payment, application, "HSBKKZKX",
                                                                            "2026-10", 42_000), AT)
        await repository.upsert_order(session, domain.OrderReported(payment, application, "settled", "HSBKKZKX",
                                                                    "2026-10", 42_000), AT)
        await repository.upsert_invitation(session, invitation_id=uuid.uuid4(), facts={
            "quarter": "2026-Q4", "region_kato": "610000000", "channel": "sms", "settlement": "rural",
            "issued": True}, at=AT)
        await repository.record_redrive(session, application_id=application, status="submitted", owner="intake",
                                        attempt=1, max_attempts=3, at=AT)


async def test_each_projection_runs_one_statement_built_once_with_its_event_as_parameters():
    session = Recorder()
    await project_twice(session)
    first, second = session.calls[:len(session.calls) // 2], session.calls[len(session.calls) // 2:]
    assert len(first) == 8
    for (statement, params), (again, other) in zip(first, second, strict=True):
        assert statement is again
        assert "compile_state_plugin" not in statement._propagate_attrs  # Core, not the ORM's bulk insert
        assert params != other


async def test_a_contracts_measures_are_parameters_of_one_statement():
    session = Recorder()
    contract, application = uuid.uuid4(), uuid.uuid4()
    await repository.upsert_contract(session, contract_id=contract, application_id=application, flag="drafted",
                                     measures={"training": 2, "job_placement": 1}, at=AT)
    assert session.calls[1][1] == [{"contract_id": contract, "measure": "job_placement", "count": 1},
                                   {"contract_id": contract, "measure": "training", "count": 2}]
