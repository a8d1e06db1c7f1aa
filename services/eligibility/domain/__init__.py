"""Eligibility rules engine: pure Python, no framework imports.

Entry points: `validate_case`, `decide` (one family), `render` (reasons for people),
`new_parameter_value` (an administrator's value, checked), `case_to_record` / `case_from_record`
(the stored input of a decision). The quarterly reassessment over columns is
`services.eligibility.reassessment`.
"""

from shared.iin import compose_iin, is_valid_iin, parse_iin

from .decision import REASON_BIT, REASON_CODES, Decision, IgnoredIncome, MonthlyAllowance, MonthlyPayment, Reason
from .messages import LANGUAGES, render
from .model import INCOME_TYPES, REGIONS, RELATIONS, Case, Expenses, FieldError, History, Income, Member
from .parameters import (
    LARGE_CHANGE,
    PARAMETER_BOUNDS,
    PARAMETER_KINDS,
    InvalidParameter,
    MissingParameter,
    ParameterSet,
    ParameterValue,
    is_large_change,
    load_shipped_parameters,
    lookup_levels,
    new_parameter_value,
    parse_parameter_value,
    recorded_event,
    value_from_json,
    value_to_json,
)
from .record import RECORD_FORMAT, case_from_record, case_to_record, family_of_record
from .rules import RULES_VERSION, decide
from .validation import validate_case

__all__ = [
    "Case", "Member", "Income", "Expenses", "History", "FieldError",
    "ParameterSet", "ParameterValue", "MissingParameter", "InvalidParameter", "PARAMETER_KINDS",
    "PARAMETER_BOUNDS", "LARGE_CHANGE", "is_large_change", "recorded_event",
    "load_shipped_parameters", "parse_parameter_value", "new_parameter_value", "value_to_json",
    "value_from_json", "lookup_levels",
    "decide", "validate_case", "render", "LANGUAGES", "RULES_VERSION",
    "case_to_record", "case_from_record", "family_of_record", "RECORD_FORMAT",
    "Decision", "Reason", "MonthlyPayment", "MonthlyAllowance", "IgnoredIncome",
    "REASON_CODES", "REASON_BIT", "INCOME_TYPES", "RELATIONS", "REGIONS",
    "parse_iin", "is_valid_iin", "compose_iin",
]
