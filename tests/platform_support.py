"""The whole platform as `make run` starts it, for the e2e and browser tests: separate processes,
real HTTP, PostgreSQL and broker, on databases dropped first."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

from qamqor_cli.platform import DATABASES, Layout, Platform, start_platform
from shared.db import drop_database


def running_platform(postgres: Any, layout: Layout) -> Iterator[Platform]:
    """For a fixture: `yield from running_platform(postgres, layout)` — started on fresh databases,
    stopped after."""
    for name in DATABASES:
        asyncio.run(drop_database(postgres.url(layout.database(name))))
    running = start_platform(layout)
    try:
        yield running
    finally:
        running.stop()


def caller_of(platform: Platform, kind: str) -> dict[str, Any]:
    """The demo caller of a kind, with its id and secret."""
    return next(c for c in platform.callers if c["kind"] == kind)
