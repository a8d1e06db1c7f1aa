"""Eligibility rules engine: pure Python + numpy, no framework imports.

Entry points: `validate_case`, `decide` (one family), `bulk.decide_columns` (a quarterly
reassessment over columns), `render` (reasons for people).
"""

from .decision import REASON_BIT, REASON_CODES, Decision, IgnoredIncome, MonthlyAllowance, MonthlyPayment, Reason
from shared.iin import compose_iin, is_valid_iin, parse_iin
from .messages import LANGUAGES, render
from .model import INCOME_TYPES, REGIONS, RELATIONS, Case, Expenses, FieldError, History, Income, Member
from .parameters import (
    PARAMETER_KINDS,
    MissingParameter,
    ParameterSet,
    ParameterValue,
    load_shipped_parameters,
    parse_parameter_value,
)
from .rules import RULES_VERSION, decide
from .validation import validate_case

__all__ = [
    "Case", "Member", "Income", "Expenses", "History", "FieldError",
    "ParameterSet", "ParameterValue", "MissingParameter", "PARAMETER_KINDS",
    "load_shipped_parameters", "parse_parameter_value",
    "decide", "validate_case", "render", "LANGUAGES", "RULES_VERSION",
    "Decision", "Reason", "MonthlyPayment", "MonthlyAllowance", "IgnoredIncome",
    "REASON_CODES", "REASON_BIT", "INCOME_TYPES", "RELATIONS", "REGIONS",
    "parse_iin", "is_valid_iin", "compose_iin",
]
