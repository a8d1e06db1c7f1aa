"""A service's replica of the few policy parameters it applies itself (eligibility owns them and
announces every value it records as `parameter.recorded`): the value and how eligibility picks
the one that applies. Pure Python."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime

from shared.regions import region_level_kato


@dataclass(frozen=True, slots=True)
class ParameterValue:
    """A replica of a parameter value eligibility recorded: valid from `valid_from` to `valid_to`
    (both inclusive; None = open), for one KATO code or nationally (`region_kato` None)."""

    name: str
    region_kato: str | None
    valid_from: date
    valid_to: date | None
    value: str | bool | tuple[str, ...]
    recorded_at: datetime


def parameter_value(values: Collection[ParameterValue], name: str, region_kato: str,
                    on: date) -> str | bool | tuple[str, ...] | None:
    """The value of `name` for `region_kato` on `on`, as eligibility applies it: the most specific
    level wins (the exact KATO code, then its region, then national), and within a level the
    value recorded last among those valid on the day. None when no value is valid."""
    valid = [v for v in values if v.name == name and v.valid_from <= on and (v.valid_to is None or on <= v.valid_to)]
    for level in (region_kato, region_level_kato(region_kato), None):
        candidates = [v for v in valid if v.region_kato == level]
        if candidates:
            return max(candidates, key=lambda v: v.recorded_at).value
    return None
