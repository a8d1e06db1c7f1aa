"""What a reassessment run needs recorded before it starts (`runs.missing_parameters`), and the
seed's synthetic carry-forward of what is missing (`qamqor_cli.seed.carried_parameters`)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from qamqor_cli.seed import REGION_KATOS, carried_parameters
from services.eligibility.domain import ParameterSet, load_shipped_parameters
from services.eligibility.domain.parameters import ParameterValue
from services.eligibility.runs import missing_parameters
from shared.calendar import Quarter

SHIPPED = ParameterSet(load_shipped_parameters())
TURKESTAN, AKTOBE = "610000000", "150000000"


def _names(missing) -> set[tuple[str, str]]:  # noqa: ANN001
    return {(m.name, m.on.isoformat()) for m in missing}


def test_the_shipped_parameters_serve_every_run_up_to_2026_q4():
    for quarter in (Quarter(2025, 1), Quarter(2026, 2), Quarter(2026, 4)):
        assert missing_parameters(SHIPPED, quarter, REGION_KATOS) == [], quarter


def test_a_run_of_2027_q1_lacks_the_mci_of_2027_on_the_decision_day_and_each_month_paid():
    assert _names(missing_parameters(SHIPPED, Quarter(2027, 1), [TURKESTAN])) == {
        ("mci", "2027-01-01"), ("mci", "2027-02-01"), ("mci", "2027-03-01")}


def test_a_run_of_2027_q2_also_lacks_the_statistics_of_2027_q1_in_each_region():
    missing = missing_parameters(SHIPPED, Quarter(2027, 2), [TURKESTAN, AKTOBE])
    assert {(m.name, m.on.isoformat()) for m in missing if m.name != "mci"} == {
        ("subsistence_minimum", "2027-01-01"), ("median_income", "2027-01-01")}
    assert {m.region_kato for m in missing if m.name == "median_income"} == {TURKESTAN, AKTOBE}


def test_without_the_median_share_the_median_income_is_not_needed():
    # before 2025 the poverty line is the subsistence term alone
    assert missing_parameters(ParameterSet([v for v in SHIPPED.values if v.name != "median_income"]),
                              Quarter(2024, 3), [TURKESTAN]) == []


def test_the_seed_carries_forward_what_the_runs_of_a_year_need_unchanged_and_labelled():
    carried = carried_parameters(SHIPPED, Quarter(2027, 2), quarters=4)
    by_key = {(v.name, v.region_kato, v.valid_from): v for v in carried}
    # yearly national values over the calendar year, the last year's value unchanged
    assert (by_key[("mci", None, date(2027, 1, 1))].valid_to, by_key[("mci", None, date(2027, 1, 1))].value) == \
        (date(2027, 12, 31), SHIPPED.get("mci", date(2026, 12, 31)).value)
    assert ("mci", None, date(2028, 1, 1)) in by_key  # the run of 2028-Q1 is the fourth after 2027-Q2
    assert by_key[("subsistence_minimum", None, date(2027, 1, 1))].value == \
        SHIPPED.get("subsistence_minimum", date(2026, 12, 31)).value
    # regional statistics per region and quarter: 2026-Q4's value, quarter by quarter of 2027
    medians = [v for v in carried if v.name == "median_income"]
    assert {v.region_kato for v in medians} == set(REGION_KATOS)
    assert {(v.valid_from, v.valid_to) for v in medians} == {
        (Quarter(2027, q).first_day, Quarter(2027, q).last_day) for q in (1, 2, 3, 4)}
    for v in medians:
        assert v.value == SHIPPED.get("median_income", date(2026, 10, 1), v.region_kato).value
    # afterwards every run of the horizon finds what it needs
    after = ParameterSet((*SHIPPED.values, *carried))
    quarter = Quarter(2027, 2)
    for _ in range(4):
        assert missing_parameters(after, quarter, REGION_KATOS) == [], quarter
        quarter = quarter.next()
    # nothing is carried twice
    assert carried_parameters(after, Quarter(2027, 2), quarters=4) == []


def test_a_carried_value_stops_where_a_recorded_one_starts():
    recorded = ParameterValue("mci", None, date(2027, 7, 1), date(2027, 12, 31), SHIPPED.get(
        "mci", date(2026, 1, 1)).value + 100, datetime(2026, 12, 1, tzinfo=UTC))
    carried = carried_parameters(ParameterSet((*SHIPPED.values, recorded)), Quarter(2027, 1), quarters=1)
    [mci] = [v for v in carried if v.name == "mci"]
    assert (mci.valid_from, mci.valid_to) == (date(2027, 1, 1), date(2027, 6, 30))


def test_nothing_is_invented_for_a_parameter_never_recorded():
    without_mci = ParameterSet([v for v in SHIPPED.values if v.name != "mci"])
    assert [v for v in carried_parameters(without_mci, Quarter(2026, 2), quarters=1) if v.name == "mci"] == []
