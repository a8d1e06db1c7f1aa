"""Intake's status rules: events arrive late or twice; a status only moves forward."""

import pytest

from services.intake import domain


@pytest.mark.parametrize("current, new, allowed", [
    ("submitted", "verified", True),
    ("verified", "decision_pending", True),
    ("decision_pending", "approved", True),   # decided once the missing parameter is recorded
    ("decision_pending", "rejected", True),
    ("approved", "verified", False),          # a late event does not move it back
    ("payments_scheduled", "contract_signed", False),
    ("rejected", "approved", False),          # final
    ("withdrawn", "verified", False),
    ("approved", "withdrawn", True),
])
def test_status_moves_only_forward(current, new, allowed):
    assert domain.can_move(current, new) is allowed
