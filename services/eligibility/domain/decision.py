"""What `decide` returns: the amounts, every reason that applies, and the evidence behind them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from .parameters import ParameterValue

# The closed list of reason codes, in the order decisions report them. The bulk path packs them
# into a bitmask: bit i ↔ REASON_CODES[i].
REASON_CODES = (
    "INCOME_BELOW_POVERTY_LINE",
    "INCOME_NOT_BELOW_POVERTY_LINE",
    "POVERTY_LINE_FROM_MEDIAN",
    "POVERTY_LINE_FROM_SUBSISTENCE",
    "UNCONDITIONAL_NO_ABLE_BODIED",
    "CONDITIONAL_ABLE_BODIED",
    "CHILD_SUPPLEMENT",
    "BAN_ACTIVE",
    "FALSE_INFORMATION",
    "EXPENSE_PURCHASE",
    "EXPENSE_LOANS",
    "EXPENSE_SPENDING",
    "EXPENSE_DEPOSITS",
    "CONSENT_NOT_GIVEN",
    "LARGE_FAMILY_ALLOWANCE",
)
REASON_BIT = {code: 1 << i for i, code in enumerate(REASON_CODES)}
_REASON_ORDER = {code: i for i, code in enumerate(REASON_CODES)}


def reason_mask(codes: Iterable[str]) -> int:
    """Reason codes as the register stores them: bit i set for REASON_CODES[i]."""
    mask = 0
    for code in codes:
        mask |= REASON_BIT[code]
    return mask


def to_json(value: Any) -> Any:
    """Decimals → strings, dates → ISO strings, containers → lists/dicts; ints, bools, None as they are."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    raise TypeError(f"cannot render {type(value).__name__} as JSON")


@dataclass(frozen=True, slots=True)
class Reason:
    code: str  # one of REASON_CODES
    params: Mapping[str, Any]  # the numbers that explain it

    def order(self) -> int:
        return _REASON_ORDER[self.code]

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "params": to_json(self.params)}


@dataclass(frozen=True, slots=True)
class MonthlyPayment:
    month: str  # "YYYY-MM"
    tsa: int
    child_supplement: int
    total: int


@dataclass(frozen=True, slots=True)
class MonthlyAllowance:
    month: str
    amount: int


@dataclass(frozen=True, slots=True)
class IgnoredIncome:
    iin: str
    type: str
    month: date
    amount: Decimal
    reason: str  # outside_assessment_quarter | not_counted_type | disregarded_on_extension

    def sort_key(self) -> tuple:
        return (self.month, self.iin, self.type, self.amount, self.reason)

    def to_dict(self) -> dict[str, Any]:
        return {"iin": self.iin, "type": self.type, "month": self.month.isoformat(),
                "amount": str(self.amount), "reason": self.reason}


@dataclass(frozen=True, slots=True)
class Decision:
    eligible: bool
    kind: str  # "conditional" | "unconditional" (describes the family even when not eligible)
    # The members a social contract would bind; announced with the decision, not part of `to_dict`
    # (the explanation counts them: CONDITIONAL_ABLE_BODIED).
    able_bodied_iins: tuple[str, ...]
    assessment_quarter: str  # "2026-Q3"
    period_quarter: str  # "2026-Q4"
    period_months: tuple[str, ...]  # ("2026-11", "2026-12")
    poverty_line: int  # whole tenge
    per_capita_income: Decimal  # 2 decimals
    members: int
    monthly: tuple[MonthlyPayment, ...]  # empty when not eligible
    large_family_allowance: tuple[MonthlyAllowance, ...]  # months with 4+ children only
    reasons: tuple[Reason, ...]
    ignored_incomes: tuple[IgnoredIncome, ...]
    parameters: tuple[ParameterValue, ...]
    rules_version: str

    @property
    def reason_codes(self) -> tuple[str, ...]:
        return tuple(r.code for r in self.reasons)

    def to_dict(self) -> dict[str, Any]:
        return {
            "eligible": self.eligible,
            "kind": self.kind,
            "assessment_quarter": self.assessment_quarter,
            "period": {"quarter": self.period_quarter, "months": list(self.period_months)},
            "poverty_line": str(self.poverty_line),
            "per_capita_income": str(self.per_capita_income),
            "members": self.members,
            "monthly": [
                {"month": m.month, "tsa": m.tsa, "child_supplement": m.child_supplement, "total": m.total}
                for m in self.monthly
            ],
            "large_family_allowance": [{"month": a.month, "amount": a.amount} for a in self.large_family_allowance],
            "reasons": [r.to_dict() for r in self.reasons],
            "ignored_incomes": [i.to_dict() for i in self.ignored_incomes],
            "parameters": [p.to_dict() for p in self.parameters],
            "rules_version": self.rules_version,
        }
