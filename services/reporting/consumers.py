"""Which events reporting follows: all of them, into one projection."""

from fastapi import FastAPI

from services.reporting import domain, service
from shared.events.contracts import TOPICS

SUBSCRIBE = tuple(TOPICS.values())


def handlers(app: FastAPI) -> dict:
    return {event_type: service.project for event_type in domain.STAGE_OF_EVENT}
