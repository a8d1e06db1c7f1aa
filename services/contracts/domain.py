"""Social contracts (Social Code arts. 122, 128; seeds 001/003). Pure Python.

Each able-bodied member who is not employed gets an employment-promotion measure; employed
members undertake to stay employed.
"""

from __future__ import annotations

DRAFTED = "drafted"
SIGNED = "signed"
TERMINATED = "terminated"

STAY_EMPLOYED = "stay_employed"
JOB_PLACEMENT = "job_placement"


def initial_obligations(able_bodied: list[tuple[str, bool]]) -> list[dict[str, str]]:
    """(iin, employed) of each able-bodied member → the obligation each takes on at signing.
    Job placement is the default measure; a case worker may change it to public works,
    training or an entrepreneurship grant."""
    return [{"iin": iin, "measure": STAY_EMPLOYED if employed else JOB_PLACEMENT} for iin, employed in able_bodied]


def can_sign(status: str) -> bool:
    return status == DRAFTED
