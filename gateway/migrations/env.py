"""Alembic environment for the gateway database (no outbox: the gateway emits no events)."""

from gateway.models import Base
from shared.migrations import run_alembic_env

run_alembic_env(Base.metadata, plumbing=False)
