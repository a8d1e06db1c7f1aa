"""Reporting's responses: figures as integers (families, people, whole tenge)."""

from __future__ import annotations

from pydantic import BaseModel


class SummaryOut(BaseModel):
    applications_by_stage: dict[str, int]
    approved_families: int
    rejected_families: int
    recipients: int
    scheduled_total_tenge: int
    undecided: int


class RegionStatsOut(BaseModel):
    region_kato: str
    region: str | None
    applications: int
    approved_families: int
    recipients: int
    undecided: int
    scheduled_total_tenge: int
