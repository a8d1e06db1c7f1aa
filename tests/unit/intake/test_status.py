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


@pytest.mark.parametrize("current, new, allowed", [
    ("contract_drafted", "contract_not_signed", True),     # the applicant let the deadline pass
    ("contract_signed", "contract_terminated", True),
    ("payments_scheduled", "contract_terminated", True),
    ("payments_scheduled", "completed", True),
    ("contract_terminated", "payments_scheduled", False),  # final: a late event changes nothing
    ("contract_terminated", "contract_signed", False),     # reordered behind its termination
    ("contract_not_signed", "contract_signed", False),
    ("completed", "contract_terminated", False),
    ("contract_terminated", "withdrawn", False),
])
def test_the_contracts_end_is_final(current, new, allowed):
    assert domain.can_move(current, new) is allowed


@pytest.mark.parametrize("status", ["contract_not_signed", "contract_terminated", "completed"])
def test_an_ended_contract_no_longer_holds_the_members(status):
    # the family may apply again; after a termination eligibility refuses it with BAN_ACTIVE until the ban ends
    assert status in domain.INACTIVE
