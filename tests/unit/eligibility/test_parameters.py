"""Effective-dated, regional, bitemporal parameters and the shipped parameter files."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from services.eligibility.domain import (
    PARAMETER_BOUNDS,
    PARAMETER_KINDS,
    REGIONS,
    FieldError,
    InvalidParameter,
    MissingParameter,
    ParameterSet,
    ParameterValue,
    decide,
    is_large_change,
    load_shipped_parameters,
    lookup_levels,
    new_parameter_value,
    parse_parameter_value,
    recorded_event,
    value_from_json,
    value_to_json,
)
from services.eligibility.domain.parameters import read_parameter_csv

from .support import AKTOBE, ASTANA, RECORDED, applicant, child, expenses, family, spouse, value, world, world_values

LATER = datetime(2026, 5, 20, 9, 30, tzinfo=UTC)


def test_a_regional_value_beats_the_national_one_on_the_same_day():
    params = world()
    assert params.get("subsistence_minimum", date(2026, 1, 1), "610000000").value == 48000
    assert params.get("subsistence_minimum", date(2026, 1, 1), ASTANA).value == 50000
    assert params.get("subsistence_minimum", date(2026, 4, 1), "610000000").value == 50000  # regional ended


def test_a_district_falls_back_to_its_region_then_the_nation():
    params = world([value("mci", 4100, "2026-01-01", "2026-12-31", region="611010000")])
    assert params.get("mci", date(2026, 2, 1), "611010000").value == 4100
    assert params.get("subsistence_minimum", date(2026, 2, 1), "611010000").value == 48000
    assert params.get("mci", date(2026, 2, 1), "612020000").value == 4000


def test_valid_to_is_inclusive():
    params = world()
    assert params.get("mci", date(2025, 12, 31)).value == 3601
    assert params.get("mci", date(2026, 1, 1)).value == 4000


def test_the_latest_recorded_value_wins_and_as_of_restores_the_past():
    correction = value("mci", 4100, "2026-01-01", "2026-12-31", recorded_at=LATER)
    now = world([correction])
    then = world([correction], as_of=datetime(2026, 5, 1, tzinfo=UTC))
    assert now.get("mci", date(2026, 6, 1)).value == 4100
    assert then.get("mci", date(2026, 6, 1)).value == 4000


def test_a_correction_of_part_of_a_period_leaves_the_rest():
    correction = value("mci", 4100, "2026-07-01", "2026-12-31", recorded_at=LATER)
    params = world([correction])
    assert params.get("mci", date(2026, 6, 1)).value == 4000
    assert params.get("mci", date(2026, 7, 1)).value == 4100


def test_nothing_recorded_before_as_of_means_missing():
    params = world(as_of=datetime(2019, 1, 1, tzinfo=UTC))
    with pytest.raises(MissingParameter):
        params.get("mci", date(2026, 1, 1))


def test_missing_parameter_names_the_parameter_region_and_date():
    with pytest.raises(MissingParameter) as raised:
        world().get("subsistence_minimum", date(2027, 1, 1), AKTOBE)
    error = raised.value
    assert (error.name, error.region_kato, error.on) == ("subsistence_minimum", AKTOBE, date(2027, 1, 1))
    assert "subsistence_minimum" in str(error) and AKTOBE in str(error) and "2027-01-01" in str(error)


def test_a_decision_that_needs_a_missing_value_is_refused():
    with pytest.raises(MissingParameter) as raised:
        decide(family(applicant(), on="2027-05-15"), world())
    assert raised.value.name == "subsistence_minimum" and raised.value.on == date(2027, 1, 1)


def test_without_the_median_share_the_median_income_is_not_needed():
    values = [v for v in world_values() if v.name != "median_income"]
    decision = decide(family(applicant(), on="2024-05-15"), ParameterSet(values))
    assert decision.poverty_line == 29400


def test_with_the_median_share_a_missing_median_income_is_refused():
    values = [v for v in world_values() if v.name != "median_income"]
    with pytest.raises(MissingParameter) as raised:
        decide(family(applicant(), on="2025-05-15"), ParameterSet(values))
    assert raised.value.name == "median_income"


def test_consent_not_required_by_policy_lets_the_application_through():
    waived = ParameterValue("consent_required", None, date(2026, 1, 1), None, False, LATER)
    case = family(applicant(), spouse(), expenses=expenses(consent=False))
    assert decide(case, world([waived])).eligible
    assert not decide(case, world([waived], as_of=RECORDED)).eligible


@pytest.mark.parametrize(("name", "raw", "parsed"), [
    ("mci", "4325", Decimal("4325")),
    ("poverty_line_median_share", " 0.35 ", Decimal("0.35")),
    ("consent_required", "false", False),
    ("counted_income_types", "wage pension;benefit", ("wage", "pension", "benefit")),
])
def test_parse_parameter_value(name, raw, parsed):
    assert parse_parameter_value(name, raw) == parsed


@pytest.mark.parametrize(("name", "val", "problem"), [
    ("no_such_parameter", Decimal(1), "unknown parameter"),
    ("mci", Decimal("4325.001"), "2 decimal places"),
    ("mci", Decimal("-1"), "non-negative"),
    ("retirement_age_male", Decimal("63.5"), "whole number"),
    ("counted_income_types", ("wage", "salary"), "unknown income types: salary"),
    ("consent_required", Decimal(1), "true or false"),
])
def test_invalid_values_are_rejected(name, val, problem):
    with pytest.raises(ValueError, match=problem):
        ParameterValue(name, None, date(2026, 1, 1), None, val, RECORDED)


def test_recorded_at_needs_a_time_zone_and_periods_must_not_be_reversed():
    with pytest.raises(ValueError, match="time zone"):
        ParameterValue("mci", None, date(2026, 1, 1), None, Decimal(1), datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="before valid_from"):
        ParameterValue("mci", None, date(2026, 1, 1), date(2025, 1, 1), Decimal(1), RECORDED)
    with pytest.raises(ValueError, match="unknown region"):
        ParameterValue("mci", "990000000", date(2026, 1, 1), None, Decimal(1), RECORDED)


def test_a_bad_csv_row_is_reported_with_its_line(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("name,region_kato,valid_from,valid_to,value,recorded_at\n"
                    "mci,,2026-01-01,2026-12-31,4325,2023-12-01T00:00:00+00:00\n"
                    "mci,,2026-01-01,2026-12-31,lots,2023-12-01T00:00:00+00:00\n")
    with pytest.raises(ValueError, match="row 3"):
        read_parameter_csv(path)


# ------------------------------------------------------------------------------------- shipped files

SHIPPED = ParameterSet(load_shipped_parameters())
QUARTER_STARTS = [date(y, m, 1) for y in (2024, 2025, 2026) for m in (1, 4, 7, 10)]


@pytest.mark.parametrize("region", [code + "0000000" for code in REGIONS])
def test_every_region_has_statistics_for_every_quarter(region):
    # No regional subsistence minimum is known, so every region resolves to the national figure
    # (rules.md) — by falling back, not by a regional copy that a later national value could not
    # override. Median incomes are regional.
    for start in QUARTER_STARTS:
        minimum = SHIPPED.get("subsistence_minimum", start, region)
        assert minimum.region_kato is None and minimum.value == SHIPPED.get("subsistence_minimum", start).value
        assert SHIPPED.get("median_income", start, region).region_kato == region


@pytest.mark.parametrize(("year", "mci", "minimum"), [
    (2023, 3450, 40567), (2024, 3692, 43407), (2025, 3932, 46228), (2026, 4325, 50851)])
def test_national_figures_of_rules_md(year, mci, minimum):
    for day in (date(year, 1, 1), date(year, 12, 31)):
        assert SHIPPED.get("mci", day).value == mci
        assert SHIPPED.get("subsistence_minimum", day).value == minimum


def test_shipped_policy_values():
    on = date(2026, 5, 15)
    assert SHIPPED.get("poverty_line_subsistence_share", date(2024, 1, 1)).value == Decimal("0.70")
    assert SHIPPED.find("poverty_line_median_share", date(2024, 12, 31)) is None
    assert SHIPPED.get("poverty_line_median_share", date(2025, 1, 1)).value == Decimal("0.35")
    assert SHIPPED.get("child_supplement_mci", on).value == Decimal("1.5")
    assert SHIPPED.get("deposit_limit_mci", on).value == 200
    assert (SHIPPED.get("retirement_age_male", on).value, SHIPPED.get("retirement_age_female", on).value) == (63, 61)
    assert SHIPPED.get("ban_months", on).value == 6
    assert SHIPPED.get("disregarded_on_extension_income_types", on).value == ("employment_measure",)
    assert SHIPPED.get("consent_required", on).value is True
    # rules.md step 2: what counts is the rule; every other type of the vocabulary is not counted
    assert set(SHIPPED.get("counted_income_types", on).value) == {
        "wage", "business", "pension", "benefit", "alimony", "rent", "interest", "farming",
        "employment_measure", "other"}
    assert "not_counted_income_types" not in PARAMETER_KINDS  # no rule read it


def test_shipped_rule_parameters():
    on = date(2024, 1, 1)
    ages = {name: SHIPPED.get(name, on).value for name in (
        "child_supplement_min_age", "child_supplement_max_age", "adult_age", "student_child_age_limit")}
    assert ages == {"child_supplement_min_age": 1, "child_supplement_max_age": 6, "adult_age": 18,
                    "student_child_age_limit": 23}
    rates = [SHIPPED.get(f"large_family_allowance_mci_{c}_children", on).value for c in (4, 5, 6, 7)]
    assert rates == [Decimal("16.03"), Decimal("20.04"), Decimal("24.05"), Decimal("28.06")]
    assert SHIPPED.get("large_family_allowance_mci_per_child_8_or_more", on).value == 4
    # a contract terminated in 2023 bars an application of early 2024: its ban_months is shipped too
    assert SHIPPED.get("ban_months", date(2023, 7, 1)).value == 6


# ------------------------------------------------------------------------- recording a new value

def record(**fields):
    given = {"name": "mci", "region_kato": None, "valid_from": date(2027, 1, 1), "valid_to": None,
             "value": "4600", "recorded_at": LATER} | fields
    return new_parameter_value(**given)


def test_a_new_value_is_typed_for_its_kind():
    assert record().value == Decimal("4600")
    assert record(name="consent_required", value=False).value is False
    assert record(name="counted_income_types", value=["wage", "pension"]).value == ("wage", "pension")
    assert record(name="poverty_line_median_share", value=0.4).value == Decimal("0.4")


@pytest.mark.parametrize(("fields", "expected"), [
    ({"name": "no_such_parameter"}, ["name"]),
    ({"region_kato": "990000000"}, ["region_kato"]),
    ({"region_kato": "71000000"}, ["region_kato"]),
    ({"valid_to": date(2026, 12, 31)}, ["valid_to"]),
    ({"name": "no_such_parameter", "region_kato": "99", "valid_to": date(2026, 1, 1)}, ["name", "region_kato", "valid_to"]),
    ({"value": "-x"}, ["value"]),
    ({"value": "-1"}, ["value"]),
    ({"value": "4600.001"}, ["value"]),
    ({"name": "adult_age", "value": "18.5"}, ["value"]),
    ({"name": "counted_income_types", "value": ["wage", "salary"]}, ["value"]),
])
def test_a_new_value_names_every_field_at_fault(fields, expected):
    with pytest.raises(InvalidParameter) as raised:
        record(**fields)
    assert [e.path for e in raised.value.errors] == expected
    assert all(isinstance(e, FieldError) and e.message for e in raised.value.errors)


@pytest.mark.parametrize(("name", "typed"), [
    ("mci", Decimal("4325")), ("consent_required", True), ("counted_income_types", ("wage", "pension")),
    ("poverty_line_median_share", Decimal("0.35")),
])
def test_a_stored_value_reads_back_as_it_was(name, typed):
    assert value_from_json(name, value_to_json(typed)) == typed


def test_lookup_levels_go_from_the_district_to_the_nation():
    assert lookup_levels("611010000") == ("611010000", "610000000", None)
    assert lookup_levels("610000000") == ("610000000", None)
    assert lookup_levels(None) == (None,)


def test_aktobe_poverty_line_for_assessment_quarter_2026_q1_is_37060():
    decision = decide(family(applicant(), region=AKTOBE, on="2026-05-15"), SHIPPED)
    assert decision.assessment_quarter == "2026-Q1"
    assert decision.poverty_line == 37060
    assert "POVERTY_LINE_FROM_MEDIAN" in decision.reason_codes
    # 1.5 × 4,325 = 6,487.5 → 6,488 (rules.md)
    with_toddler = decide(family(applicant(), child("2023-03-03"), region=AKTOBE, on="2026-05-15"), SHIPPED)
    assert [m.child_supplement for m in with_toddler.monthly] == [6488, 6488]


def test_shipped_2024_application_uses_the_subsistence_term_only():
    decision = decide(family(applicant(), region="610000000", on="2024-05-15"), SHIPPED)
    # 0.70 × 43,407 = 30,384.9 → 30,385
    assert decision.poverty_line == 30385
    assert "POVERTY_LINE_FROM_SUBSISTENCE" in decision.reason_codes


def test_shipped_values_cover_january_2024_applications():
    decision = decide(family(applicant(), region="790000000", on="2024-01-10"), SHIPPED)
    assert decision.assessment_quarter == "2023-Q4"
    assert decision.poverty_line == 28397  # 0.70 × 40,567 = 28,396.9


# ------------------------------------------------------------------- sane ranges and large changes

@pytest.mark.parametrize(("name", "admitted", "refused"), [
    ("poverty_line_subsistence_share", ["0.01", "0.7", "0.99"], ["0", "1", "70"]),
    ("poverty_line_median_share", ["0.35"], ["0", "1.5", "35"]),
    ("mci", ["0.01", "4325", "100000"], ["0", "100000.01"]),
    ("subsistence_minimum", ["50851", "10000000"], ["0", "10000000.01"]),
    ("median_income", ["105886"], ["0", "20000000"]),
    ("adult_age", ["0", "18", "100"], ["101"]),
    ("retirement_age_male", ["63"], ["150"]),
    ("student_child_age_limit", ["23"], ["230"]),
    ("child_supplement_max_age", ["6"], ["101"]),
    ("ban_months", ["0", "6", "120"], ["121"]),
    ("deposit_limit_mci", ["200"], ["10001"]),
    ("large_family_allowance_mci_4_children", ["16.03"], ["16030"]),
])
def test_every_numeric_parameter_has_a_sane_range(name, admitted, refused):
    for text in admitted:
        assert record(name=name, value=text).value == Decimal(text)
    for text in refused:
        with pytest.raises(InvalidParameter) as raised:
            record(name=name, value=text)
        [error] = raised.value.errors
        assert error.path == "value" and str(PARAMETER_BOUNDS[name]) in error.message


def test_a_share_refused_says_how_a_share_is_written():
    with pytest.raises(InvalidParameter, match="strictly between 0 and 1 \\(a share: 0.7, not 70\\)"):
        record(name="poverty_line_subsistence_share", value="70")


def test_the_shipped_values_are_within_their_ranges():
    for shipped in SHIPPED.values:
        bounds = PARAMETER_BOUNDS.get(shipped.name)
        assert bounds is None or bounds.admits(shipped.value), shipped


@pytest.mark.parametrize(("previous", "new", "large"), [
    ("4325", "6487", False), ("4325", "6488", True),  # 4325 × 1.5 = 6487.5
    ("4325", "2163", False), ("4325", "2162", True),  # 4325 × 0.5 = 2162.5
    ("0.70", "0.35", False), ("0.70", "0.34", True),
    ("6", "6", False), ("0", "0", False), ("0", "1", True),
])
def test_a_large_change_is_more_than_half_the_value_it_follows(previous, new, large):
    assert is_large_change(Decimal(previous), Decimal(new)) is large


def test_a_large_change_is_recorded_only_when_confirmed():
    follows = value("mci", 4325, "2026-01-01", "2026-12-31")
    with pytest.raises(InvalidParameter) as raised:
        record(value="46000", follows=follows)
    [error] = raised.value.errors
    assert error.path == "value"
    assert "46000 is more than 50% away from 4325" in error.message and "2026-01-01" in error.message
    assert record(value="46000", follows=follows, confirm_large_change=True).value == Decimal("46000")
    assert record(value="4600", follows=follows).value == Decimal("4600")
    # lists and booleans have no distance
    assert record(name="consent_required", value=False, follows=value("consent_required", True, "2024-01-01")).value \
        is False


def test_a_new_value_follows_the_one_in_effect_or_else_the_last_before_it():
    params = world()
    assert params.followed("mci", date(2026, 7, 1)).value == 4000  # in effect
    assert params.followed("mci", date(2027, 1, 1)).value == 4000  # the last, 2026's
    assert params.followed("mci", date(2019, 1, 1)) is None  # nothing before
    # a region follows what it has in effect: its own value, else its region's or the nation's
    assert params.followed("subsistence_minimum", date(2026, 2, 1), "610000000").value == 48000
    assert params.followed("subsistence_minimum", date(2026, 2, 1), ASTANA).value == 50000
    assert params.followed("subsistence_minimum", date(2026, 4, 1), "610000000").value == 50000


def test_a_recorded_value_is_announced_with_its_id_and_value_as_stored():
    import uuid

    announced = recorded_event(record(name="adult_age", value="18", valid_to=date(2027, 12, 31)), uuid.UUID(int=5))
    assert announced.model_dump() == {
        "parameter_id": uuid.UUID(int=5), "name": "adult_age", "region_kato": None,
        "valid_from": date(2027, 1, 1), "valid_to": date(2027, 12, 31), "value": "18", "recorded_at": LATER}
    assert recorded_event(record(name="counted_income_types", value=["wage"]), uuid.UUID(int=6)).value == ["wage"]
