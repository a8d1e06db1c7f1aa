"""A seeded synthetic population so the sandbox answers for any IIN like a real registry would.

Incomes are a pure function of (IIN, month): the same person always has the same history,
across restarts. Shares follow rules.md's figures (seed 003): regions weighted as TSA
recipients are, about one adult in three without registered income, wages and pensions in
realistic ranges.
"""

from __future__ import annotations

import hashlib
from datetime import date

from shared.iin import parse_iin


def _unit(*parts: object) -> float:
    """A stable pseudo-random number in [0, 1) from the parts."""
    digest = hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def synthetic_incomes(iin: str, month: date) -> list[dict[str, str]]:
    facts = parse_iin(iin)
    if facts is None:
        return []
    born, sex = facts.birth_date, facts.sex
    age = month.year - born.year - ((month.month, 1) < (born.month, born.day))
    incomes: list[dict[str, str]] = []
    retirement = 63 if sex == "male" else 61
    if age >= retirement:
        amount = 70_000 + int(_unit(iin, "pension") * 90_000)
        incomes.append({"type": "pension", "amount": f"{amount}.00"})
    elif age >= 18:
        profile = _unit(iin, "profile")
        if profile < 0.35:
            pass  # no registered income
        elif profile < 0.85:
            base = 60_000 + int(_unit(iin, "wage") * 240_000)
            # a little month-to-month variation, as with bonuses and part-time work
            wobble = int((_unit(iin, "wage", month.isoformat()) - 0.5) * 0.1 * base)
            incomes.append({"type": "wage", "amount": f"{base + wobble}.00"})
        else:
            amount = 30_000 + int(_unit(iin, "business", month.isoformat()) * 150_000)
            incomes.append({"type": "business", "amount": f"{amount}.00"})
    return incomes
