"""Families for tests: valid IINs made from birth dates, request bodies as the portal sends them."""

from __future__ import annotations

import itertools
from datetime import date
from typing import Any

from shared.iin import make_iin

_serial = itertools.count(100)


def person(birth: date, sex: str, relation: str, **extra: Any) -> dict[str, Any]:
    return {
        "iin": make_iin(birth, sex, next(_serial) * 7 % 9000),
        "full_name": f"Test {relation.title()}",
        "birth_date": birth.isoformat(),
        "sex": sex,
        "relation": relation,
        "employed": False,
        "full_time_student": False,
        "disability_group": None,
        "carer": False,
    } | extra


def application_body(members: list[dict[str, Any]], region: str = "610000000", **extra: Any) -> dict[str, Any]:
    return {
        "channel": "egov",
        "region_kato": region,
        "settlement": "urban",
        "bank_account": {"iban": "KZ86125KZT5004100100", "bank_code": "HSBKKZKX"},
        "expense_check_consent": False,
        "members": members,
    } | extra
