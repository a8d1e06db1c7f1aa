"""A social contract's life after drafting: the signing deadline in business days, measures and
their dated notes, breaches and termination, completion at the end of the period."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import date, datetime, timezone

import pytest

from services.contracts import domain
from tests.support import decided_event, person

MOTHER = person(date(1991, 1, 1), "female", "applicant")
FATHER = person(date(1989, 1, 1), "male", "spouse", employed=True)
SON = person(date(2015, 1, 1), "male", "child")
# Thursday 17 December 2026, 13:00 in Almaty.
DRAFTED_AT = datetime(2026, 12, 17, 8, 0, tzinfo=timezone.utc)
SIGNED_AT = datetime(2026, 12, 18, 8, 0, tzinfo=timezone.utc)
LATER = datetime(2026, 12, 28, 8, 0, tzinfo=timezone.utc)
ids = iter(uuid.UUID(int=n) for n in range(100, 10_000))


def drafted(sign_business_days: int = 10) -> domain.SocialContract:
    decision = decided_event(kind="conditional", members=[MOTHER, FATHER, SON],
                             able_bodied=[MOTHER["iin"], FATHER["iin"]]).payload()
    contract, _ = domain.draft(None, decision, contract_id=uuid.UUID(int=1), at=DRAFTED_AT,
                               sign_business_days=sign_business_days)
    return contract


def signed() -> domain.SocialContract:
    contract, _ = domain.sign(drafted(), MOTHER["iin"], "portal-1", SIGNED_AT)
    return contract


def with_measure(measure: str = domain.TRAINING, iin: str = MOTHER["iin"]) -> tuple[domain.SocialContract, uuid.UUID]:
    contract, offered = domain.add_measure(signed(), measure_id=next(ids), member_iin=iin, measure=measure,
                                           note="Referred to the employment centre", at=SIGNED_AT, by="cw-1")
    return contract, offered.id


def move(contract, measure_id, status, on, outcome=None, at=LATER):  # noqa: ANN001, ANN201
    return domain.update_measure(contract, measure_id, status=status, note=f"{status} on {on}", on=on,
                                 outcome=outcome, at=at, by="cw-1", breach_id=next(ids))


# ---- the deadline ------------------------------------------------------------------------------

def test_the_signing_deadline_counts_business_days_in_almaty_and_the_period_ends_with_its_quarter():
    contract = drafted()
    # 18, 21–25, 28–31 Dec are the ten business days after the drafting: the deadline is the end of
    # 31 December in Almaty (midnight, 19:00 UTC)
    assert contract.sign_by == datetime(2026, 12, 31, 19, 0, tzinfo=timezone.utc)
    # an eleventh skips New Year (1–2 January) and the weekend: the end of Monday 5 January 2027
    assert drafted(sign_business_days=11).sign_by == datetime(2027, 1, 5, 19, 0, tzinfo=timezone.utc)
    assert contract.ends_on == date(2026, 12, 31)  # 2026-Q4
    assert drafted(sign_business_days=1).sign_by == datetime(2026, 12, 18, 19, 0, tzinfo=timezone.utc)


def test_an_unsigned_contract_lapses_at_its_deadline_not_before():
    contract = drafted()
    assert domain.lapse(contract, datetime(2026, 12, 31, 18, 59, tzinfo=timezone.utc)) is None
    lapsed, event = domain.lapse(contract, contract.sign_by)
    assert lapsed.status == domain.LAPSED and lapsed.lapsed_at == contract.sign_by
    assert (event.contract_id, event.application_id, event.lapsed_at) == (
        contract.id, contract.application_id, contract.sign_by)
    assert domain.lapse(lapsed, LATER) is None  # once
    assert domain.lapse(signed(), datetime(2027, 2, 1, tzinfo=timezone.utc)) is None


def test_the_applicant_cannot_sign_at_or_after_the_deadline_nor_a_lapsed_contract():
    contract = drafted()
    with pytest.raises(domain.ContractNotSignable, match="deadline"):
        domain.sign(contract, MOTHER["iin"], "portal-1", contract.sign_by)
    lapsed, _ = domain.lapse(contract, contract.sign_by)
    with pytest.raises(domain.ContractNotSignable, match="lapsed"):
        domain.sign(lapsed, MOTHER["iin"], "portal-1", SIGNED_AT)


def test_a_contract_drafted_before_deadlines_were_kept_never_lapses_by_itself():
    assert domain.lapse(replace(drafted(), sign_by=None), datetime(2030, 1, 1, tzinfo=timezone.utc)) is None


def test_a_signed_contract_completes_the_day_after_its_period_in_almaty():
    contract = signed()
    assert domain.complete(contract, datetime(2026, 12, 31, 18, 59, tzinfo=timezone.utc)) is None  # 23:59 Almaty
    completed, event = domain.complete(contract, datetime(2026, 12, 31, 19, 0, tzinfo=timezone.utc))
    assert completed.status == domain.COMPLETED and completed.completed_on == date(2026, 12, 31)
    assert event.completed_on == date(2026, 12, 31)
    assert domain.complete(drafted(), datetime(2027, 3, 1, tzinfo=timezone.utc)) is None  # unsigned: it lapses


# ---- the text ----------------------------------------------------------------------------------

def test_the_text_names_each_obligation_in_kazakh_and_russian():
    text = domain.contract_text(drafted())
    assert set(text) == {"kk", "ru"}
    assert "1. Член семьи с ИИН " + MOTHER["iin"] + " обязуется встать на учёт" in text["ru"]
    assert "2. Член семьи с ИИН " + FATHER["iin"] + " обязуется сохранять трудовую занятость" in text["ru"]
    assert "1. ЖСН " + MOTHER["iin"] + " отбасы мүшесі" in text["kk"]
    assert "сақтауға міндеттенеді" in text["kk"] and "31.12.2026" in text["kk"]
    assert SON["iin"] not in text["ru"]  # a child takes on nothing
    assert "128" in text["ru"] and "128-бабы" in text["kk"]


# ---- measures ----------------------------------------------------------------------------------

def test_a_measure_goes_offered_accepted_in_progress_completed_with_its_notes_in_order():
    contract, measure_id = with_measure()
    contract, _, _ = move(contract, measure_id, domain.ACCEPTED, date(2026, 12, 21))
    contract, _, _ = move(contract, measure_id, domain.IN_PROGRESS, date(2026, 12, 22))
    contract, _, _ = move(contract, measure_id, domain.IN_PROGRESS, date(2026, 12, 22))  # a progress note
    contract, measure, event = move(contract, measure_id, domain.MEASURE_COMPLETED, date(2026, 12, 28),
                                    outcome=domain.TRAINING_COMPLETED)
    assert event is None and contract.status == domain.SIGNED
    assert measure.outcome == domain.TRAINING_COMPLETED
    assert [n.status for n in measure.notes] == ["offered", "accepted", "in_progress", "in_progress", "completed"]
    assert [n.on for n in measure.notes] == sorted(n.on for n in measure.notes)
    with pytest.raises(domain.MeasureClosed):
        move(contract, measure_id, domain.IN_PROGRESS, date(2026, 12, 28))


@pytest.mark.parametrize("current, new", [
    ("offered", "in_progress"), ("offered", "completed"), ("accepted", "offered"), ("in_progress", "accepted"),
])
def test_a_measure_does_not_skip_or_go_back(current, new):
    contract, measure_id = with_measure()
    path = {"offered": [], "accepted": ["accepted"], "in_progress": ["accepted", "in_progress"]}[current]
    for step in path:
        contract, _, _ = move(contract, measure_id, step, date(2026, 12, 21))
    with pytest.raises(domain.Refused) as refused:
        move(contract, measure_id, new, date(2026, 12, 22))
    assert refused.value.field == "status"


@pytest.mark.parametrize("on, outcome, field", [
    (date(2026, 12, 17), None, "on"),             # before the signing
    (date(2026, 12, 29), None, "on"),             # after today (28 Dec)
    (date(2026, 12, 21), "grant", "outcome"),     # not a training's outcome
])
def test_a_measure_update_refuses_a_bad_day_or_outcome_naming_it(on, outcome, field):
    contract, measure_id = with_measure()
    status = domain.ACCEPTED if outcome is None else domain.MEASURE_COMPLETED
    contract, _, _ = move(contract, measure_id, domain.ACCEPTED, date(2026, 12, 18)) if outcome else (contract, 0, 0)
    with pytest.raises(domain.Refused) as refused:
        move(contract, measure_id, status, on, outcome=outcome)
    assert refused.value.field == field


def test_notes_are_kept_in_the_order_of_their_days():
    contract, measure_id = with_measure()
    contract, _, _ = move(contract, measure_id, domain.ACCEPTED, date(2026, 12, 22))
    with pytest.raises(domain.Refused) as refused:
        move(contract, measure_id, domain.IN_PROGRESS, date(2026, 12, 21))
    assert refused.value.field == "on"


def test_an_outcome_needs_a_completed_measure():
    contract, measure_id = with_measure(domain.JOB_PLACEMENT)
    with pytest.raises(domain.Refused) as refused:
        move(contract, measure_id, domain.ACCEPTED, date(2026, 12, 21), outcome=domain.PERMANENT_JOB)
    assert refused.value.field == "outcome"


@pytest.mark.parametrize("iin, measure, field", [
    (SON["iin"], domain.TRAINING, "member_iin"),            # not able-bodied: no obligation
    ("700606300015", domain.TRAINING, "member_iin"),        # not in the family
    (FATHER["iin"], domain.TRAINING, "measure"),            # employed: he undertook to stay employed
    (MOTHER["iin"], domain.STAY_EMPLOYED, "measure"),       # not employed
])
def test_a_measure_is_only_for_a_member_the_obligations_name_and_of_their_kind(iin, measure, field):
    with pytest.raises(domain.Refused) as refused:
        domain.add_measure(signed(), measure_id=next(ids), member_iin=iin, measure=measure, note="", at=SIGNED_AT,
                           by="cw-1")
    assert refused.value.field == field


def test_measures_and_breaches_need_a_signed_contract():
    with pytest.raises(domain.ContractNotActive):
        domain.add_measure(drafted(), measure_id=next(ids), member_iin=MOTHER["iin"], measure=domain.TRAINING,
                           note="", at=SIGNED_AT, by="cw-1")
    with pytest.raises(domain.ContractNotActive):
        domain.record_breach(drafted(), breach_id=next(ids), member_iin=MOTHER["iin"], kind=domain.NON_FULFILMENT,
                             occurred_on=date(2026, 12, 18), evidence="x", at=SIGNED_AT, by="cw-1")


# ---- breaches and termination ------------------------------------------------------------------

def test_a_refused_measure_terminates_the_contract_at_once_for_the_whole_family():
    contract, measure_id = with_measure()
    contract, measure, event = move(contract, measure_id, domain.REFUSED, date(2026, 12, 23))
    assert measure.status == domain.REFUSED
    assert (contract.status, contract.terminated_on, contract.termination_reason) == (
        domain.TERMINATED, date(2026, 12, 23), domain.REFUSED_MEASURES)
    [breach] = contract.breaches
    assert (breach.kind, breach.member_iin, breach.occurred_on, breach.measure_id) == (
        domain.REFUSED_MEASURES, MOTHER["iin"], date(2026, 12, 23), measure_id)
    assert contract.termination_breach_id == breach.id
    assert event.terminated_on == date(2026, 12, 23) and event.reason == "refused_measures"
    assert event.member_iins == [MOTHER["iin"], FATHER["iin"], SON["iin"]]  # the child is barred too
    with pytest.raises(domain.ContractNotActive):
        domain.add_measure(contract, measure_id=next(ids), member_iin=FATHER["iin"], measure=domain.STAY_EMPLOYED,
                           note="", at=LATER, by="cw-1")


def test_a_breach_by_refusal_terminates_on_the_day_it_occurred():
    contract, breach, event = domain.record_breach(
        signed(), breach_id=next(ids), member_iin=FATHER["iin"], kind=domain.REFUSED_MEASURES,
        occurred_on=date(2026, 12, 21), evidence="Refused the job offered in writing", at=LATER, by="cw-1")
    assert contract.status == domain.TERMINATED and contract.terminated_on == date(2026, 12, 21)
    assert event.terminated_on == date(2026, 12, 21) and contract.termination_breach_id == breach.id


def test_non_fulfilment_waits_for_a_case_workers_decision_which_terminates_once():
    contract, breach, event = domain.record_breach(
        signed(), breach_id=next(ids), member_iin=MOTHER["iin"], kind=domain.NON_FULFILMENT,
        occurred_on=date(2026, 12, 21), evidence="Missed three weeks of training", at=LATER, by="cw-1")
    assert event is None and contract.status == domain.SIGNED
    with pytest.raises(domain.Refused) as refused:
        domain.terminate(contract, breach_id=breach.id, terminated_on=date(2026, 12, 20), at=LATER)
    assert refused.value.field == "terminated_on"  # before the breach
    with pytest.raises(domain.Refused) as refused:
        domain.terminate(contract, breach_id=next(ids), terminated_on=date(2026, 12, 22), at=LATER)
    assert refused.value.field == "breach_id"
    terminated, event = domain.terminate(contract, breach_id=breach.id, terminated_on=date(2026, 12, 22), at=LATER)
    assert terminated.status == domain.TERMINATED and event.reason == "non_fulfilment"
    again, repeated = domain.terminate(terminated, breach_id=breach.id, terminated_on=date(2026, 12, 22), at=LATER)
    assert repeated is None and again == terminated  # a retry
    with pytest.raises(domain.AlreadyTerminated):
        domain.terminate(terminated, breach_id=breach.id, terminated_on=date(2026, 12, 23), at=LATER)
    assert domain.complete(terminated, datetime(2027, 2, 1, tzinfo=timezone.utc)) is None


@pytest.mark.parametrize("occurred_on", [date(2026, 12, 17), date(2026, 12, 29)])
def test_a_breach_dated_before_the_signing_or_in_the_future_is_refused_naming_the_day(occurred_on):
    with pytest.raises(domain.Refused) as refused:
        domain.record_breach(signed(), breach_id=next(ids), member_iin=MOTHER["iin"], kind=domain.NON_FULFILMENT,
                             occurred_on=occurred_on, evidence="x", at=LATER, by="cw-1")
    assert refused.value.field == "occurred_on"


# ---- the deadline's policy parameter (a replica of eligibility's) ------------------------------

def value(days: str, region: str | None = None, valid_from: date = date(2024, 1, 1), valid_to: date | None = None,
          recorded: int = 1) -> domain.ParameterValue:
    return domain.ParameterValue(name=domain.SIGN_DEADLINE_PARAMETER, region_kato=region, valid_from=valid_from,
                                 valid_to=valid_to, value=days,
                                 recorded_at=datetime(2024, 1, recorded, tzinfo=timezone.utc))


def test_the_deadline_parameter_most_specific_then_latest_valid_on_the_day():
    on = date(2026, 12, 17)
    national, turkestan = value("10"), value("7", region="610000000")
    assert domain.sign_business_days([national], "610000000", on) == 10
    assert domain.sign_business_days([national, turkestan], "610000000", on) == 7
    assert domain.sign_business_days([national, turkestan], "350000000", on) == 10
    assert domain.sign_business_days([national, value("12", recorded=2)], "350000000", on) == 12
    assert domain.sign_business_days([value("5", valid_to=date(2025, 12, 31)), national], "350000000", on) == 10
    assert domain.sign_business_days([value("5", valid_to=date(2025, 12, 31))], "350000000", on) is None
    assert domain.sign_business_days([value("2.5")], "350000000", on) is None  # no fraction of a day
    assert domain.sign_business_days([value("10.00")], "350000000", on) == 10
