"""The event backbone's vocabulary: one envelope, a pydantic model per event type and version."""

from shared.events.envelope import Envelope, contract_for, register, registered, validate_data
from shared.events import contracts  # noqa: F401  (registers every event type)

__all__ = ["Envelope", "contract_for", "register", "registered", "validate_data", "contracts"]
