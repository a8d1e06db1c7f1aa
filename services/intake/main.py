"""Intake: applications and family composition, de-duplication, idempotency."""

from pathlib import Path

from fastapi import FastAPI

from services.intake import api, consumers, fdc, fdc_api, periods, reconciliation, sms
from services.intake.settings import IntakeSettings
from shared.service import ServiceSpec, create_service_app

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def create_app(settings: IntakeSettings | None = None) -> FastAPI:
    settings = settings or IntakeSettings()
    return create_service_app(ServiceSpec(
        name="intake",
        settings=settings,
        routers=[api.router, fdc_api.router],
        handlers=consumers.handlers,
        subscribe=consumers.SUBSCRIBE,
        # FDC invitations are pre-checked on the income registry with eligibility's estimate.
        resources={"fdc_prechecker": lambda app: fdc.PreChecker(settings)},
        tasks={"reconciliation sweep": lambda app: reconciliation.run_sweeps(
            sessionmaker=app.state.sessionmaker, policy=reconciliation.ReconciliationPolicy.of(settings),
            interval=settings.reconciliation_interval_seconds),
               "consent SMS dispatcher": lambda app: _dispatch_consent_sms(app, settings),
               "invitation SMS dispatcher": lambda app: fdc.run_invitation_dispatcher(
                   sessionmaker=app.state.sessionmaker, settings=settings),
               "consent expiry sweep": lambda app: sms.run_expiry_sweep(
                   sessionmaker=app.state.sessionmaker, interval=settings.consent_expiry_interval_seconds),
               "period-end sweep": lambda app: periods.run_period_sweep(
                   sessionmaker=app.state.sessionmaker, interval=settings.period_end_interval_seconds)},
        description="Applications for targeted social assistance and their status.",
    ))


async def _dispatch_consent_sms(app: FastAPI, settings: IntakeSettings) -> None:
    gateway = sms.HttpSmsGateway(settings)
    try:
        await sms.run_dispatcher(sessionmaker=app.state.sessionmaker, gateway=gateway, pepper=settings.code_pepper(),
                                 interval=settings.sms_poll_interval_seconds,
                                 retry_max=settings.sms_retry_max_seconds)
    finally:
        await gateway.aclose()
