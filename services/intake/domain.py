"""Applications: the family's check at the door and the status an application moves through.
Pure Python: no framework imports."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from shared.iin import iin_problems

# The statuses a citizen sees, in the order the flow reaches them.
SUBMITTED = "submitted"
VERIFIED = "verified"
DECISION_PENDING = "decision_pending"
APPROVED = "approved"
REJECTED = "rejected"
CONTRACT_DRAFTED = "contract_drafted"
CONTRACT_SIGNED = "contract_signed"
PAYMENTS_SCHEDULED = "payments_scheduled"
WITHDRAWN = "withdrawn"

_ORDER = {s: i for i, s in enumerate(
    [SUBMITTED, VERIFIED, DECISION_PENDING, APPROVED, CONTRACT_DRAFTED, CONTRACT_SIGNED, PAYMENTS_SCHEDULED]
)}
FINAL_NEGATIVE = frozenset({REJECTED, WITHDRAWN})
# After these an application no longer blocks its members from a new one.
INACTIVE = FINAL_NEGATIVE


def can_move(current: str, new: str) -> bool:
    """Events may arrive late or twice; a status only moves forward, and a final negative
    status is never left."""
    if current in FINAL_NEGATIVE:
        return False
    if new in FINAL_NEGATIVE:
        return True
    return _ORDER.get(new, -1) > _ORDER.get(current, -1)


@dataclass(frozen=True, slots=True)
class MemberFacts:
    iin: str
    birth_date: date
    sex: str
    relation: str


def family_problems(members: list[MemberFacts], today: date) -> list[tuple[str, str]]:
    """(field path, message) for every reason the family as stated cannot be accepted."""
    problems: list[tuple[str, str]] = []
    seen: dict[str, int] = {}
    for i, m in enumerate(members):
        for message in iin_problems(m.iin, m.birth_date, m.sex):
            field = "birth_date" if message.startswith("birth date") else "sex" if message.startswith("sex") else "iin"
            path = f"members[{i}].{field}"
            problems.append((path, message))
        if m.birth_date > today:
            problems.append((f"members[{i}].birth_date", "birth date is in the future"))
        if m.iin in seen:
            problems.append((f"members[{i}].iin", f"the same person is already listed as members[{seen[m.iin]}]"))
        seen.setdefault(m.iin, i)
    applicants = [i for i, m in enumerate(members) if m.relation == "applicant"]
    if len(applicants) != 1:
        problems.append(("members", f"exactly one member must have relation 'applicant' (found {len(applicants)})"))
    return problems
