"""Background loops sleep until woken or until their poll interval ends."""

from __future__ import annotations

import asyncio


async def wait_for_wakeup(wake: asyncio.Event, timeout: float) -> bool:
    """True when `wake` was set, False when `timeout` seconds passed first.

    Not `asyncio.wait_for`: on Python 3.11 it swallows a cancellation that arrives together with
    the wake-up, and a loop that cannot be cancelled keeps its process from shutting down."""
    try:
        async with asyncio.timeout(timeout):
            await wake.wait()
        return True
    except TimeoutError:
        return False
