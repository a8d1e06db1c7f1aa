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


# The banks the sandbox plays (sandbox/banks.py), by share of accounts among TSA applicants:
# Kaspi, Halyk, Bank CenterCredit (BICs of intake's participating banks).
PLAYED_BANKS: tuple[tuple[str, float], ...] = (("CASPKZKA", 0.50), ("HSBKKZKX", 0.35), ("KCJBKZKX", 0.15))


def _adult(iin: str, on: date) -> bool:
    facts = parse_iin(iin)
    if facts is None:
        return False
    born = facts.birth_date
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day)) >= 18


def _pick_bank(u: float, excluded: str | None = None) -> str:
    choices = [(code, weight) for code, weight in PLAYED_BANKS if code != excluded]
    total = sum(weight for _, weight in choices)
    cursor = 0.0
    for code, weight in choices:
        cursor += weight / total
        if u < cursor:
            return code
    return choices[-1][0]


def synthetic_accounts(iin: str) -> list[str]:
    """The banks where the person holds an account: most people none, some one, a few two.
    Children hold none."""
    from shared.calendar import business_date

    if not _adult(iin, business_date()):
        return []
    profile = _unit(iin, "accounts")
    if profile < 0.55:
        return []
    first = _pick_bank(_unit(iin, "accounts", "first"))
    if profile < 0.88:
        return [first]
    return [first, _pick_bank(_unit(iin, "accounts", "second"), excluded=first)]


def synthetic_purchases(iin: str, registry: str, quarter) -> list[dict[str, str]]:  # noqa: ANN001 (a Quarter)
    """Purchases registered to the person in the quarter: about 1 adult in 100 buys a home and
    3 in 100 a car in a given quarter."""
    if not _adult(iin, quarter.last_day):
        return []
    chance = {"real-estate": 0.01, "vehicle": 0.03}.get(registry, 0.0)
    if _unit(iin, registry, str(quarter)) >= chance:
        return []
    days = (quarter.last_day - quarter.first_day).days + 1
    day = date.fromordinal(quarter.first_day.toordinal() + int(_unit(iin, registry, str(quarter), "day") * days))
    if registry == "vehicle":
        kind = "car"
    else:
        kind = "apartment" if _unit(iin, registry, str(quarter), "kind") < 0.7 else "house"
    return [{"date": day.isoformat(), "kind": kind}]


def synthetic_cashflow(iin: str, bank_code: str, quarter) -> dict[str, str]:  # noqa: ANN001 (a Quarter)
    """A bank's aggregates of the quarter for a customer (tenge, decimal strings): spending on
    the accounts; non-mortgage loans and microcredits taken (about 1 in 8); savings deposits at
    the end of the quarter, housing deposits apart (about 1 in 5)."""
    key = (iin, bank_code, str(quarter))
    spending = 30_000 + int(_unit(*key, "spending") * 570_000)
    loans = 0
    if _unit(*key, "loan") < 0.12:
        loans = 50_000 + 10_000 * int(_unit(*key, "loan", "amount") * 75)
    deposits = 0
    if _unit(iin, bank_code, "deposit") < 0.20:
        deposits = 20_000 + int(_unit(*key, "deposit", "amount") * 1_480_000)
    housing = 0
    if _unit(iin, bank_code, "housing") < 0.05:  # a housing savings deposit, never counted (E4)
        housing = 100_000 + int(_unit(*key, "housing", "amount") * 2_000_000)
    cents = int(_unit(*key, "cents") * 100)
    return {"total_spending": f"{spending}.{cents:02d}", "non_mortgage_loans": f"{loans}.00",
            "savings_deposits": f"{deposits}.00", "housing_deposits": f"{housing}.00"}
