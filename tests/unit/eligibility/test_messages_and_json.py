import json
from datetime import date

import pytest

from services.eligibility.domain import LANGUAGES, REASON_CODES, RULES_VERSION, History, Reason, decide, render

from .support import Q1_2026, applicant, child, expenses, family, monthly, spouse, world

PARAMS = world()
A, S = applicant(), spouse()

# families that between them raise every reason code
EVERY_REASON = [
    family(A, S, child("2022-08-10"), child("2018-01-05"), child("2014-03-03"), child("2011-02-02"),
           incomes=monthly(S, "wage", Q1_2026, 150000)),
    family(applicant(disability_group=1), region="610000000", incomes=monthly(A, "wage", Q1_2026, 900000)),
    family(A, history=History(ban_until=date(2026, 6, 1), false_information=True),
           expenses=expenses(purchase=True, loans="1000000", spending="1000000", deposits="1000000")),
    family(A, expenses=expenses(consent=False)),
]


def all_reasons() -> list[Reason]:
    return [r for case in EVERY_REASON for r in decide(case, PARAMS).reasons]


def test_the_families_cover_every_reason_code():
    assert {r.code for r in all_reasons()} == set(REASON_CODES)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_reason_renders_with_its_numbers(lang):
    for reason in all_reasons():
        text = render(reason, lang)
        assert text and "{" not in text
        if reason.code == "INCOME_BELOW_POVERTY_LINE":
            assert "38\u202f500" in text


def test_render_examples():
    reason = Reason("EXPENSE_DEPOSITS", {"deposits": 1000000, "limit": 800000, "deposit_limit_mci": 200, "mci": 4000})
    assert render(reason, "en") == "Savings deposits of 1\u202f000\u202f000 ₸ exceed 200 MCI (800\u202f000 ₸)."
    assert render(reason, "ru") == "Сберегательные вклады на 1\u202f000\u202f000 ₸ превышают 200 МРП (800\u202f000 ₸)."
    assert render(reason, "kk") == "Жинақ салымдары 1\u202f000\u202f000 ₸ 200 АЕК-тен (800\u202f000 ₸) асады."


def test_unknown_language_or_code():
    with pytest.raises(ValueError, match="language"):
        render(Reason("FALSE_INFORMATION", {}), "de")
    with pytest.raises(ValueError, match="reason code"):
        render(Reason("NO_SUCH_CODE", {}), "en")


def test_to_dict_shape():
    data = decide(EVERY_REASON[0], PARAMS).to_dict()
    assert json.loads(json.dumps(data)) == data
    assert list(data) == ["eligible", "kind", "assessment_quarter", "period", "poverty_line", "per_capita_income",
                          "members", "monthly", "large_family_allowance", "reasons", "ignored_incomes",
                          "parameters", "rules_version"]
    assert data["period"] == {"quarter": "2026-Q2", "months": ["2026-05", "2026-06"]}
    assert (data["poverty_line"], data["per_capita_income"], data["members"]) == ("38500", "25000.00", 6)
    assert data["monthly"][0] == {"month": "2026-05", "tsa": 81000, "child_supplement": 6000, "total": 87000}
    assert data["large_family_allowance"] == [{"month": "2026-05", "amount": 64120}, {"month": "2026-06", "amount": 64120}]
    assert data["rules_version"] == RULES_VERSION
    first = data["reasons"][0]
    assert first == {"code": "INCOME_BELOW_POVERTY_LINE", "params": {
        "per_capita_income": "25000.00", "poverty_line": 38500, "counted_income_total": "450000.00", "members": 6}}
    names = {(p["name"], p["valid_from"]) for p in data["parameters"]}
    assert ("mci", "2026-01-01") in names and ("median_income", "2026-01-01") in names
    assert all(set(p) == {"name", "region_kato", "value", "valid_from", "recorded_at"} for p in data["parameters"])


def test_ignored_incomes_are_listed():
    case = family(A, incomes=monthly(A, "wage", ("2025-12",), "1500.50"))
    assert decide(case, PARAMS).to_dict()["ignored_incomes"] == [
        {"iin": A.iin, "type": "wage", "month": "2025-12-01", "amount": "1500.50", "reason": "outside_assessment_quarter"}]
