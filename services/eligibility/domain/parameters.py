"""Effective-dated, bitemporal parameters.

A `ParameterValue` is valid from `valid_from` to `valid_to` (both inclusive; None = open) for one
region (a 9-digit KATO code) or nationally (`region_kato=None`), and was recorded at `recorded_at`.
A `ParameterSet` answers "which value of X applies in region R on day D":

1. the most specific region wins: the exact KATO code, then its region (`XX0000000`), then national;
2. within that level, among the values valid on D, the one recorded last wins (a correction recorded
   later supersedes the original for new decisions);
3. `as_of` hides everything recorded after it, so a past decision recomputed with
   `as_of=decided_at` sees exactly the values it saw then.

No value → `MissingParameter`: a decision is refused rather than computed with a stale value.

Every numeric parameter has a sane range (`PARAMETER_BOUNDS`): a value outside it is a typo, never a
policy (a share of "70" meant 0.70). An administrator's value far from the one it follows
(`is_large_change`) is recorded only when the administrator confirms it is meant.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from uuid import UUID

from shared.events.contracts import ParameterRecorded
from shared.regions import is_known_region, region_level_kato

from .model import INCOME_TYPES, FieldError

ParameterScalar = Decimal | tuple[str, ...] | bool

# name → kind. "money" is tenge with at most two decimals; "integer" a whole number;
# "decimal" any non-negative decimal; "income_types" a tuple drawn from INCOME_TYPES.
PARAMETER_KINDS: dict[str, str] = {
    "mci": "money",
    "subsistence_minimum": "money",
    "median_income": "money",
    "poverty_line_subsistence_share": "decimal",
    "poverty_line_median_share": "decimal",
    "child_supplement_mci": "decimal",
    "child_supplement_min_age": "integer",
    "child_supplement_max_age": "integer",
    "adult_age": "integer",
    "student_child_age_limit": "integer",
    "large_family_allowance_mci_4_children": "decimal",
    "large_family_allowance_mci_5_children": "decimal",
    "large_family_allowance_mci_6_children": "decimal",
    "large_family_allowance_mci_7_children": "decimal",
    "large_family_allowance_mci_per_child_8_or_more": "decimal",
    "deposit_limit_mci": "decimal",
    "retirement_age_male": "integer",
    "retirement_age_female": "integer",
    "ban_months": "integer",
    # Contracts applies it (a replica): the applicant signs the social contract within this many
    # business days after it is drafted, or it lapses (issue 11).
    "contract_sign_business_days": "integer",
    "counted_income_types": "income_types",
    "disregarded_on_extension_income_types": "income_types",
    "consent_required": "bool",
}



@dataclass(frozen=True, slots=True)
class Bounds:
    """The sane range of a numeric parameter."""

    low: Decimal
    high: Decimal
    low_excluded: bool = False
    high_excluded: bool = False
    hint: str = ""

    def admits(self, value: Decimal) -> bool:
        above = value > self.low if self.low_excluded else value >= self.low
        below = value < self.high if self.high_excluded else value <= self.high
        return above and below

    def __str__(self) -> str:
        if self.low_excluded and self.high_excluded:
            text = f"strictly between {self.low} and {self.high}"
        elif self.low_excluded:
            text = f"above {self.low} and at most {self.high}"
        else:
            text = f"between {self.low} and {self.high}"
        return text + (f" ({self.hint})" if self.hint else "")


_SHARE = Bounds(Decimal(0), Decimal(1), low_excluded=True, high_excluded=True, hint="a share: 0.7, not 70")
_AGE = Bounds(Decimal(0), Decimal(100), hint="years")
_MCI_MULTIPLE = Bounds(Decimal(0), Decimal(10_000), hint="a number of MCI")
_MONTHLY_TENGE = Bounds(Decimal(0), Decimal(10_000_000), low_excluded=True, hint="tenge a month")

PARAMETER_BOUNDS: dict[str, Bounds] = {
    "mci": Bounds(Decimal(0), Decimal(100_000), low_excluded=True, hint="tenge"),
    "subsistence_minimum": _MONTHLY_TENGE,
    "median_income": _MONTHLY_TENGE,
    "poverty_line_subsistence_share": _SHARE,
    "poverty_line_median_share": _SHARE,
    "child_supplement_mci": _MCI_MULTIPLE,
    "child_supplement_min_age": _AGE,
    "child_supplement_max_age": _AGE,
    "adult_age": _AGE,
    "student_child_age_limit": _AGE,
    "large_family_allowance_mci_4_children": _MCI_MULTIPLE,
    "large_family_allowance_mci_5_children": _MCI_MULTIPLE,
    "large_family_allowance_mci_6_children": _MCI_MULTIPLE,
    "large_family_allowance_mci_7_children": _MCI_MULTIPLE,
    "large_family_allowance_mci_per_child_8_or_more": _MCI_MULTIPLE,
    "deposit_limit_mci": _MCI_MULTIPLE,
    "retirement_age_male": _AGE,
    "retirement_age_female": _AGE,
    "ban_months": Bounds(Decimal(0), Decimal(120), hint="months"),
    "contract_sign_business_days": Bounds(Decimal(1), Decimal(60), hint="business days"),
}
assert set(PARAMETER_BOUNDS) == {name for name, kind in PARAMETER_KINDS.items()
                                 if kind in ("money", "decimal", "integer")}

# A new value more than this far from the value it follows (as a fraction of that value) needs
# the administrator's confirmation.
LARGE_CHANGE = Decimal("0.5")

SHIPPED_PARAMETERS_DIR = Path(__file__).resolve().parent.parent / "parameters"
_CACHE_LIMIT = 200_000


class MissingParameter(LookupError):
    def __init__(self, name: str, region_kato: str | None, on: date, as_of: datetime | None = None):
        self.name = name
        self.region_kato = region_kato
        self.on = on
        self.as_of = as_of
        where = f"region {region_kato} (nor its region or nationally)" if region_kato else "nationally"
        recorded = f" among values recorded by {as_of.isoformat()}" if as_of else ""
        super().__init__(f"no value of parameter '{name}' for {where} valid on {on.isoformat()}{recorded}")

    def again(self) -> MissingParameter:
        """A fresh copy to raise, for errors kept in a cache (raising one instance twice chains tracebacks)."""
        return MissingParameter(self.name, self.region_kato, self.on, self.as_of)


def _value_error(name: str, value: object) -> str | None:
    """Why `value` cannot be a value of parameter `name` (a known one), or None."""
    kind = PARAMETER_KINDS[name]
    if kind == "bool":
        return None if isinstance(value, bool) else "must be true or false"
    if kind == "income_types":
        if not isinstance(value, tuple) or not all(isinstance(t, str) for t in value):
            return "must be a list of income types"
        unknown = [t for t in value if t not in INCOME_TYPES]
        return f"unknown income types: {', '.join(unknown)}" if unknown else None
    if not isinstance(value, Decimal) or not value.is_finite() or value < 0:
        return "must be a non-negative decimal"
    exponent = value.as_tuple().exponent
    if kind == "money" and exponent < -2:  # type: ignore[operator]
        return "must have at most 2 decimal places"
    if kind == "integer" and value != value.to_integral_value():
        return "must be a whole number"
    bounds = PARAMETER_BOUNDS[name]
    if not bounds.admits(value):
        return f"must be {bounds}"
    return None


def _field_problems(name: str, region_kato: str | None, valid_from: date, valid_to: date | None) -> list[FieldError]:
    problems = []
    if name not in PARAMETER_KINDS:
        problems.append(FieldError("name", f"unknown parameter; one of {', '.join(PARAMETER_KINDS)}"))
    if region_kato is not None and not is_known_region(region_kato):
        problems.append(FieldError("region_kato", "unknown region: a 9-digit KATO code of one of the 20 regions"))
    if valid_to is not None and valid_to < valid_from:
        problems.append(FieldError("valid_to", "must not be before valid_from"))
    return problems


@dataclass(frozen=True, slots=True)
class ParameterValue:
    name: str
    region_kato: str | None
    valid_from: date
    valid_to: date | None
    value: ParameterScalar
    recorded_at: datetime

    def __post_init__(self) -> None:
        problems = [p.message for p in _field_problems(self.name, self.region_kato, self.valid_from, self.valid_to)]
        if self.name in PARAMETER_KINDS:
            value_problem = _value_error(self.name, self.value)
            if value_problem:
                problems.append(value_problem)
        if self.recorded_at.tzinfo is None:
            problems.append("recorded_at must carry a time zone")
        if problems:
            raise ValueError(f"parameter {self.name}: {'; '.join(problems)}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "region_kato": self.region_kato,
            "value": value_to_json(self.value),
            "valid_from": self.valid_from.isoformat(),
            "recorded_at": self.recorded_at.isoformat(),
        }


class InvalidParameter(ValueError):
    """A parameter value that cannot be recorded; `errors` names each field at fault."""

    def __init__(self, errors: list[FieldError]):
        self.errors = errors
        super().__init__("; ".join(f"{e.path}: {e.message}" for e in errors))


def is_large_change(previous: Decimal, new: Decimal) -> bool:
    """`new` is more than LARGE_CHANGE away from `previous` (any change of a zero is large)."""
    if previous == 0:
        return new != 0
    return abs(new - previous) > LARGE_CHANGE * abs(previous)


def new_parameter_value(*, name: str, region_kato: str | None, valid_from: date, valid_to: date | None,
                        value: object, recorded_at: datetime, follows: ParameterValue | None = None,
                        confirm_large_change: bool = False) -> ParameterValue:
    """An administrator's value (text, a JSON number, true/false or a list) → a `ParameterValue`,
    or `InvalidParameter` naming every field at fault: the name must be known, the region one of
    the 20, the period not reversed, the value of the parameter's kind and within its bounds, and
    — unless `confirm_large_change` — not far from `follows`, the value it follows
    (`ParameterSet.followed`)."""
    problems = _field_problems(name, region_kato, valid_from, valid_to)
    if problems:
        raise InvalidParameter(problems)
    try:
        typed = parse_parameter_value(name, _as_text(value))
    except ValueError as error:
        raise InvalidParameter([FieldError("value", str(error))]) from None
    problem = _value_error(name, typed)
    if problem:
        raise InvalidParameter([FieldError("value", f"parameter {name}: {problem}")])
    if (follows is not None and not confirm_large_change and isinstance(typed, Decimal)
            and isinstance(follows.value, Decimal) and is_large_change(follows.value, typed)):
        where = f"region {follows.region_kato}" if follows.region_kato else "nationally"
        raise InvalidParameter([FieldError("value", (
            f"parameter {name}: {typed} is more than {LARGE_CHANGE:.0%} away from {follows.value}, the value it "
            f"follows (in effect {where} from {follows.valid_from.isoformat()}); if it is meant, send it again "
            f"with \"confirm_large_change\": true"))])
    return ParameterValue(name, region_kato, valid_from, valid_to, typed, recorded_at)


def recorded_event(value: ParameterValue, parameter_id: UUID) -> ParameterRecorded:
    """The announcement of a recorded value: services that apply a parameter themselves keep a
    replica (intake: `adult_age`)."""
    return ParameterRecorded(parameter_id=parameter_id, name=value.name, region_kato=value.region_kato,
                             valid_from=value.valid_from, valid_to=value.valid_to,
                             value=value_to_json(value.value), recorded_at=value.recorded_at)


def _as_text(raw: object) -> str:
    """A JSON value as the parameter parser reads it (a CSV cell's text)."""
    if isinstance(raw, list):
        return " ".join(map(str, raw))
    if isinstance(raw, bool):
        return str(raw).lower()
    return str(raw)


def value_to_json(value: ParameterScalar) -> Any:
    """The typed value as it is stored (JSONB) and shown: a decimal as a string, a bool, a list."""
    if isinstance(value, bool):
        return value
    if isinstance(value, tuple):
        return list(value)
    return str(value)


def value_from_json(name: str, raw: Any) -> ParameterScalar:
    """A stored value (see `value_to_json`) → the typed value of parameter `name`."""
    if isinstance(raw, list):
        return tuple(raw)
    if isinstance(raw, bool):
        return raw
    return parse_parameter_value(name, str(raw))


def parse_parameter_value(name: str, raw: str) -> ParameterScalar:
    """Text (a CSV cell or an admin form field) → the typed value for parameter `name`."""
    kind = PARAMETER_KINDS.get(name)
    if kind is None:
        raise ValueError(f"unknown parameter '{name}'")
    text = raw.strip()
    if kind == "bool":
        if text.lower() in ("true", "1", "yes"):
            return True
        if text.lower() in ("false", "0", "no"):
            return False
        raise ValueError(f"parameter {name}: {raw!r} is not true/false")
    if kind == "income_types":
        return tuple(t.strip() for t in text.replace(";", " ").replace(",", " ").split() if t.strip())
    try:
        return Decimal(text)
    except InvalidOperation:
        raise ValueError(f"parameter {name}: {raw!r} is not a number") from None


def lookup_levels(region_kato: str | None) -> tuple[str | None, ...]:
    """Where a value for `region_kato` is looked for, most specific first: the code itself, then
    its region (a district of Turkestan → Turkestan region), then the nation (None)."""
    if region_kato is None:
        return (None,)
    region = region_level_kato(region_kato)
    return (region_kato, None) if region == region_kato else (region_kato, region, None)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class ParameterSet:
    """An immutable, indexed set of parameter values as known at `as_of` (None = everything)."""

    __slots__ = ("values", "as_of", "_index", "_lookups", "_derived")

    def __init__(self, values: Iterable[ParameterValue], as_of: datetime | None = None):
        self.as_of = _aware(as_of) if as_of is not None else None
        self.values: tuple[ParameterValue, ...] = tuple(
            v for v in values if self.as_of is None or v.recorded_at <= self.as_of
        )
        grouped: dict[tuple[str, str | None], list[tuple[int, ParameterValue]]] = {}
        for position, value in enumerate(self.values):
            grouped.setdefault((value.name, value.region_kato), []).append((position, value))
        # Newest record first; equal record times: the later valid_from, then the later in input.
        self._index: dict[tuple[str, str | None], tuple[ParameterValue, ...]] = {
            key: tuple(v for _, v in sorted(
                entries, key=lambda e: (e[1].recorded_at, e[1].valid_from, e[0]), reverse=True))
            for key, entries in grouped.items()
        }
        self._lookups: dict[tuple[str, date, str | None], ParameterValue | None] = {}
        self._derived: dict[Any, Any] = {}

    def find(self, name: str, on: date, region_kato: str | None = None) -> ParameterValue | None:
        key = (name, on, region_kato)
        try:
            return self._lookups[key]
        except KeyError:
            pass
        found = None
        for level in lookup_levels(region_kato):
            found = self._valid_in(name, level, on)
            if found is not None:
                break
        if len(self._lookups) > _CACHE_LIMIT:
            self._lookups.clear()
        self._lookups[key] = found
        return found

    def get(self, name: str, on: date, region_kato: str | None = None) -> ParameterValue:
        found = self.find(name, on, region_kato)
        if found is None:
            raise MissingParameter(name, region_kato, on, self.as_of)
        return found

    def followed(self, name: str, on: date, region_kato: str | None = None) -> ParameterValue | None:
        """The value a new one from `on` follows: the one in effect on `on` (the region's, its
        region's or the nation's, as `find`), or else the last one in effect before it."""
        found = self.find(name, on, region_kato)
        if found is not None:
            return found
        ends = [value.valid_to for level in lookup_levels(region_kato) for value in self._index.get((name, level), ())
                if value.valid_to is not None and value.valid_to < on]
        return self.find(name, max(ends), region_kato) if ends else None

    def derived(self, key: Any, compute: Callable[[], Any]) -> Any:
        """Memoise a value computed purely from this set (e.g. a region's poverty line on a day)."""
        try:
            return self._derived[key]
        except KeyError:
            pass
        result = compute()
        if len(self._derived) > _CACHE_LIMIT:
            self._derived.clear()
        self._derived[key] = result
        return result

    def _valid_in(self, name: str, region_kato: str | None, on: date) -> ParameterValue | None:
        for value in self._index.get((name, region_kato), ()):
            if value.valid_from <= on and (value.valid_to is None or on <= value.valid_to):
                return value
        return None

    def __len__(self) -> int:
        return len(self.values)


_CSV_COLUMNS = ("name", "region_kato", "valid_from", "valid_to", "value", "recorded_at")


def read_parameter_csv(path: Path) -> list[ParameterValue]:
    """One value per row: name,region_kato,valid_from,valid_to,value,recorded_at (empty = None)."""
    values = []
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if tuple(reader.fieldnames or ()) != _CSV_COLUMNS:
            raise ValueError(f"{path.name}: expected columns {','.join(_CSV_COLUMNS)}")
        for line, row in enumerate(reader, start=2):
            try:
                values.append(ParameterValue(
                    name=row["name"],
                    region_kato=row["region_kato"] or None,
                    valid_from=date.fromisoformat(row["valid_from"]),
                    valid_to=date.fromisoformat(row["valid_to"]) if row["valid_to"] else None,
                    value=parse_parameter_value(row["name"], row["value"]),
                    recorded_at=datetime.fromisoformat(row["recorded_at"]),
                ))
            except ValueError as error:
                raise ValueError(f"{path.name} row {line}: {error}") from None
    return values


def load_shipped_parameters(directory: Path = SHIPPED_PARAMETERS_DIR) -> list[ParameterValue]:
    values: list[ParameterValue] = []
    for path in sorted(directory.glob("*.csv")):
        values.extend(read_parameter_csv(path))
    return values
