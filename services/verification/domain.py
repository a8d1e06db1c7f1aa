"""What evidence a decision needs. Pure Python."""

from __future__ import annotations

from datetime import date

from shared.calendar import Quarter


def assessment_quarter(application_date: date) -> Quarter:
    """Incomes are assessed over the quarter before the application's (rules.md, step 2)."""
    return Quarter.of(application_date).previous()
