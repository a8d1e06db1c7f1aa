"""Families for the pipeline benchmark, drawn from the sandbox's synthetic population.

The sandbox answers the income registry for any IIN with a seeded history that is a pure
function of the IIN and the month (`sandbox.population.synthetic_incomes`). So a family needs no
set-up call: its members' IINs are chosen here, their incomes are what the sandbox will report,
and the decision the platform must reach is known in advance — the eligibility engine
(`services.eligibility.domain.decide`, the code the service runs) decides each candidate here
with the shipped parameters. Candidates are drawn from three shapes and kept until the mix is
filled:

- unconditional: a pensioner applying with grandchildren, or a parent who cares for a child under
  three (no able-bodied member), with income below the poverty line;
- conditional: able-bodied adults of working age (with little or no registered income) and
  children, below the poverty line — a social contract is drafted;
- rejected: income per member not below the poverty line (a wage earner with a child, or a
  pensioner alone).

IINs are unique within a run (a person may be on one active application only); `seed` varies
the serial numbers between runs against the same platform.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sandbox.population import synthetic_accounts, synthetic_cashflow, synthetic_incomes, synthetic_purchases
from services.eligibility.domain import (
    Case,
    Expenses,
    Income,
    Member,
    ParameterSet,
    decide,
    load_shipped_parameters,
)
from shared.calendar import assessment_quarter, business_date
from shared.iin import make_iin
from shared.regions import REGIONS

KINDS = ("unconditional", "conditional", "rejected")
# A Halyk Bank account (bank code 601 in the IBAN: HSBKKZKX), as the demo uses.
BANK_ACCOUNT = {"iban": "KZ20601KZT5004100100", "bank_code": "HSBKKZKX"}
REGION_CODES = tuple(kato + "0000000" for kato in REGIONS)


@dataclass(frozen=True, slots=True)
class Family:
    kind: str  # the expected outcome: unconditional | conditional | rejected
    applicant_iin: str
    body: dict[str, Any]  # the application as the portal submits it
    # The adults besides the applicant: each signs in at eGov and consents in the portal (the
    # applicant consents when applying), as the expense check requires (docs/consent.md).
    other_adults: tuple[str, ...] = ()


def _member(iin: str, birth: date, sex: str, relation: str, **extra: Any) -> dict[str, Any]:
    return {"iin": iin, "full_name": "Bench Person", "birth_date": birth.isoformat(), "sex": sex,
            "relation": relation, "employed": False, "full_time_student": False, "disability_group": None,
            "carer": False} | extra


class FamilyMaker:
    def __init__(self, *, seed: int, today: date | None = None) -> None:
        self.rng = random.Random(seed)
        self.today = today or business_date()
        self.params = ParameterSet(load_shipped_parameters())
        self.months = assessment_quarter(self.today).months()
        self.used: set[str] = set()
        self.serial = seed % 10_000

    def _person(self, age_from: float, age_to: float, sex: str | None = None) -> tuple[str, date, str]:
        sex = sex or self.rng.choice(("male", "female"))
        while True:
            birth = self.today - timedelta(days=int(self.rng.uniform(age_from, age_to) * 365.25))
            self.serial = (self.serial + 7) % 10_000
            iin = make_iin(birth, sex, self.serial)
            if iin not in self.used:
                self.used.add(iin)
                return iin, birth, sex

    def _children(self, count: int, relation: str = "child", young: float = 0.2) -> list[dict[str, Any]]:
        return [_member(*self._person(young, 15.5), relation) for _ in range(count)]

    def _candidate(self, shape: str) -> list[dict[str, Any]]:
        rng = self.rng
        if shape == "unconditional":
            if rng.random() < 0.5:  # a grandparent past retirement age with grandchildren
                applicant = _member(*self._person(66, 80), "applicant")
                return [applicant] + self._children(rng.randint(2, 5), "grandchild")
            iin, birth, sex = self._person(22, 40)  # a parent caring for a child under three
            return ([_member(iin, birth, sex, "applicant", carer=True)]
                    + [_member(*self._person(0.2, 2.8), "child")] + self._children(rng.randint(0, 3)))
        if shape == "conditional":
            applicant = _member(*self._person(22, 50), "applicant", employed=rng.random() < 0.3)
            spouse = [_member(*self._person(22, 50), "spouse")] if rng.random() < 0.6 else []
            return [applicant] + spouse + self._children(rng.randint(1, 5), young=3)
        if rng.random() < 0.7:  # rejected: a wage earner and a child, or a pensioner alone
            return [_member(*self._person(25, 50), "applicant", employed=True)] + self._children(1, young=3)
        return [_member(*self._person(66, 80), "applicant")]

    def outcome(self, members: list[dict[str, Any]], region: str) -> str:
        """What the platform must decide for this family: unconditional, conditional or rejected."""
        incomes = tuple(Income(iin=m["iin"], type=row["type"], month=month, amount=Decimal(row["amount"]))
                        for m in members for month in self.months for row in synthetic_incomes(m["iin"], month))
        case = Case(region_kato=region, application_date=self.today, extension=False, incomes=incomes,
                    expenses=self._expenses(members),
                    members=tuple(Member(iin=m["iin"], birth_date=date.fromisoformat(m["birth_date"]), sex=m["sex"],
                                         relation=m["relation"], employed=m["employed"], carer=m["carer"],
                                         full_time_student=m["full_time_student"],
                                         disability_group=m["disability_group"]) for m in members))
        decision = decide(case, self.params)
        return decision.kind if decision.eligible else "rejected"

    def _expenses(self, members: list[dict[str, Any]]) -> Expenses:
        """What the sandbox's registries and banks will report once every adult consented (the
        same synthetic population): purchases of any member, the adults' banks' aggregates."""
        quarter = assessment_quarter(self.today)
        adults = [m["iin"] for m in members if self._adult(m)]
        bought = any(synthetic_purchases(m["iin"], registry, quarter)
                     for m in members for registry in ("real-estate", "vehicle"))
        answers = [synthetic_cashflow(iin, bank, quarter) for iin in adults for bank in synthetic_accounts(iin)]
        return Expenses(consent=True, home_or_car_purchase=bought,
                        non_mortgage_loans=sum((Decimal(a["non_mortgage_loans"]) for a in answers), Decimal(0)),
                        account_spending=sum((Decimal(a["total_spending"]) for a in answers), Decimal(0)),
                        deposits=sum((Decimal(a["savings_deposits"]) for a in answers), Decimal(0)))

    def _adult(self, member: dict[str, Any]) -> bool:
        born = date.fromisoformat(member["birth_date"])
        return (self.today.year - born.year - ((self.today.month, self.today.day) < (born.month, born.day))) >= 18

    def family(self, kind: str) -> Family:
        """A family the platform will decide as `kind`."""
        for _ in range(1000):
            members = self._candidate(kind)
            region = self.rng.choice(REGION_CODES)
            if self.outcome(members, region) == kind:
                body = {"channel": "egov", "region_kato": region, "settlement": self.rng.choice(("urban", "rural")),
                        "bank_account": BANK_ACCOUNT, "expense_check_consent": True, "members": members}
                return Family(kind, members[0]["iin"], body,
                              tuple(m["iin"] for m in members[1:] if self._adult(m)))
            for m in members:  # not kept: the IINs may be drawn again
                self.used.discard(m["iin"])
        raise RuntimeError(f"no {kind} family found in 1000 candidates")

    def families(self, count: int, mix: tuple[float, float, float]) -> list[Family]:
        """`count` families, shuffled, in the proportions `mix` (unconditional, conditional, rejected)."""
        total = sum(mix)
        wanted = [int(round(count * share / total)) for share in mix]
        wanted[0] += count - sum(wanted)
        out = [self.family(kind) for kind, n in zip(KINDS, wanted) for _ in range(n)]
        self.rng.shuffle(out)
        return out
