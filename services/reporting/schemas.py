"""Reporting's responses: figures as integers (families, people, whole tenge) — statistics only,
never a person's data."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from shared.regions import is_registered_kato


def _registered_kato(kato: str) -> str:
    if not is_registered_kato(kato):
        raise ValueError("not a code of the KATO classifier Qamqor ships (its regions and cities, e.g. "
                         "610000000 Turkestan region)")
    return kato


RegisteredKato = Annotated[str, Field(pattern=r"^\d{9}$", description="A KATO code of the shipped classifier",
                                      examples=["470000000"]), AfterValidator(_registered_kato)]


class SummaryOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "applications_by_stage": {"payments_scheduled": 2, "decided": 1, "submitted": 4},
        "approved_families": 2, "rejected_families": 1, "recipients": 5, "scheduled_total_tenge": 102384,
        "undecided": 4}]})

    applications_by_stage: dict[str, int]
    approved_families: int
    rejected_families: int
    recipients: int
    scheduled_total_tenge: int
    undecided: int


class RegionStatsOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "region_kato": "470000000", "region": "Mangystau", "applications": 7, "approved_families": 2,
        "recipients": 5, "undecided": 4, "scheduled_total_tenge": 102384}]})

    region_kato: str
    region: str | None
    applications: int
    approved_families: int
    recipients: int
    undecided: int
    scheduled_total_tenge: int


# ---- problems: every error answer (RFC 9457 problem+json, as shared.errors writes it) ----------
# The same text in every service's schemas.py (shared.errors has no model of its own answers yet),
# so the gateway's merged document shows one model.

