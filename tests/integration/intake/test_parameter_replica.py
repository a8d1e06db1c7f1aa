"""Intake keeps a replica of the policy parameters it applies (the applicant's adult age):
eligibility announces each value it records with `parameter.recorded`, intake keeps it, and the
next application is checked against the value valid on its date."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timezone

from sqlalchemy import delete, func, select

from services.intake.models import Application, ParameterReplica
from shared.calendar import business_date
from shared.events import Envelope
from shared.events.contracts import ParameterRecorded
from tests.support import application_body, eventually, person, publish


def _recorded(name: str, value, *, region: str | None, parameter_id: uuid.UUID | None = None):  # noqa: ANN001, ANN202
    return Envelope.wrap(ParameterRecorded(
        parameter_id=parameter_id or uuid.uuid4(), name=name, region_kato=region, valid_from=date(2024, 1, 1),
        valid_to=None, value=value, recorded_at=datetime.now(timezone.utc),
    ), source="eligibility", key="parameters")  # one key, one partition: consumed in the order published


def _nineteen_year_old() -> dict:
    return person(date(business_date().year - 19, 1, 1), "female", "applicant")  # 19 all this year


async def test_a_recorded_adult_age_applies_to_the_next_application(running_service, internal_token, broker):
    # Almaty city only, so that no other test's applications are concerned if it lingers on the topic.
    adult_21 = _recorded("adult_age", "21", region="750000000")
    async with running_service("intake") as client:
        await publish(broker.bootstrap, "qamqor.eligibility", adult_21, times=2)  # delivered twice: kept once
        # Not a parameter intake applies: not kept.
        await publish(broker.bootstrap, "qamqor.eligibility", _recorded("mci", "4325", region=None))
        # A value intake cannot apply is left out, not guessed at.
        await publish(broker.bootstrap, "qamqor.eligibility", _recorded("adult_age", "18.5", region="710000000"))
        # consent_required is replicated too (services/intake/consent.py), as true or false only.
        await publish(broker.bootstrap, "qamqor.eligibility", _recorded("consent_required", False, region="750000000"))
        await publish(broker.bootstrap, "qamqor.eligibility", _recorded("consent_required", "no", region="710000000"))
        marker = _recorded("adult_age", "18", region="790000000")  # once kept, every earlier one was handled
        await publish(broker.bootstrap, "qamqor.eligibility", marker)

        async def replicated():
            async with client.app.state.sessionmaker() as session:
                ids = set((await session.execute(select(ParameterReplica.parameter_id))).scalars())
            return ids if marker.payload().parameter_id in ids else None

        ids = await eventually(replicated)
        async with client.app.state.sessionmaker() as session:
            rows = (await session.execute(select(ParameterReplica.name, ParameterReplica.region_kato,
                                                 ParameterReplica.value).where(ParameterReplica.name == "adult_age")
                                          .order_by(ParameterReplica.region_kato))).all()
        assert adult_21.payload().parameter_id in ids
        assert rows == [("adult_age", "750000000", "21"), ("adult_age", "790000000", "18"), ("adult_age", None, "18")]
        async with client.app.state.sessionmaker() as session:
            consent_rows = (await session.execute(
                select(ParameterReplica.region_kato, ParameterReplica.value)
                .where(ParameterReplica.name == "consent_required").order_by(ParameterReplica.region_kato))).all()
        assert consent_rows == [("750000000", False), (None, True)]  # and the value shipped

        applicant = _nineteen_year_old()

        async def apply(region: str):  # noqa: ANN202
            return await client.post("/v1/applications", json=application_body([applicant], region=region),
                                     headers=internal_token("portal", citizen=applicant["iin"])
                                     | {"Idempotency-Key": str(uuid.uuid4())})

        refused = await apply("750000000")
        assert refused.status_code == 422, refused.text
        assert refused.json()["errors"] == [{"field": "members[0].birth_date", "message":
                                             "the applicant must be at least 21 years old on the application date"}]
        assert (await apply("610000000")).status_code == 201  # nationally 18 still


async def test_no_value_for_the_day_is_a_503_not_a_guess(running_service, internal_token):
    applicant = person(date(1990, 6, 6), "male", "applicant")
    async with running_service("intake") as client:
        async with client.app.state.sessionmaker() as session, session.begin():
            await session.execute(delete(ParameterReplica))
        response = await client.post("/v1/applications", json=application_body([applicant]),
                                     headers=internal_token("portal", citizen=applicant["iin"])
                                     | {"Idempotency-Key": str(uuid.uuid4())})
        assert response.status_code == 503, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["retry-after"]
        problem = response.json()
        assert problem["type"].endswith("/parameter-missing") and "adult_age" in problem["detail"]
        async with client.app.state.sessionmaker() as session:
            assert await session.scalar(select(func.count()).select_from(Application)) == 0
