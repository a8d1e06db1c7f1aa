"""The quarterly reassessment: every recipient family decided again at once, over columns.

Not the rules of a single decision (those are `services.eligibility.domain`), but the same rules
applied to whole populations with numpy; `decide_columns` must agree with `decide` family by
family (tests/unit/eligibility/test_bulk.py).
"""

from .bulk import (
    BLOCK_FAMILIES,
    EPOCH,
    INCOME_TYPE_CODES,
    MAX_MONTHS,
    NO_DAY,
    RELATION_CODES,
    SEX_CODES,
    BulkDecisions,
    FamilyColumns,
    cases_to_columns,
    day_number,
    decide_columns,
    month_first_day,
    month_number,
    reason_codes_of,
)

__all__ = [
    "FamilyColumns", "BulkDecisions", "cases_to_columns", "decide_columns", "reason_codes_of",
    "day_number", "month_number", "month_first_day", "EPOCH", "NO_DAY", "MAX_MONTHS", "BLOCK_FAMILIES",
    "SEX_CODES", "RELATION_CODES", "INCOME_TYPE_CODES",
]
