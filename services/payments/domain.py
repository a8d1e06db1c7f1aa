"""Payments: a quarterly assignment paid month by month, every month exactly once. Pure Python."""

from __future__ import annotations

AWAITING_CONTRACT = "awaiting_contract"
SCHEDULED = "scheduled"

# payment statuses
PAYMENT_SCHEDULED = "scheduled"
SETTLED = "settled"
FAILED = "failed"


def initial_assignment_status(kind: str) -> str:
    """Conditional assistance needs a signed social contract before the first payment (rules.md 7)."""
    return AWAITING_CONTRACT if kind == "conditional" else SCHEDULED


def can_record_bank_status(current: str, new: str) -> bool:
    """A bank may report once per payment; a settled payment never turns failed."""
    return current == PAYMENT_SCHEDULED and new in (SETTLED, FAILED)
