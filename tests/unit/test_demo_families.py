"""`qamqor demo --families N`: the generated families have seed 003's spread (rules.md, "Figures")
— checked on 5,000 families, no platform needed."""

from __future__ import annotations

from collections import Counter
from datetime import date

import pytest
from schwifty import IBAN

from qamqor_cli.demo import REGION_SHARES, generate_families, kz_iban
from services.reporting.domain import social_status
from shared.events.contracts import FamilyMember
from shared.iin import parse_iin
from shared.regions import is_registered_kato

TODAY = date(2026, 11, 30)
FAMILIES = generate_families(5000, seed=20261130, today=TODAY, run=7)
PEOPLE = [m for f in FAMILIES for m in f.members]


def test_the_region_shares_are_seed_003s():
    assert sum(REGION_SHARES.values()) == pytest.approx(100.0)
    assert all(is_registered_kato(code) for code in REGION_SHARES)
    shares = Counter(f.region_kato for f in FAMILIES)
    for code, percent in (("610000000", 20.3), ("790000000", 11.3), ("430000000", 8.2), ("190000000", 7.9),
                          ("310000000", 7.5), ("330000000", 7.0)):
        assert shares[code] / len(FAMILIES) == pytest.approx(percent / 100, abs=0.015), code
    six = sum(shares[c] for c in ("610000000", "790000000", "430000000", "190000000", "310000000", "330000000"))
    assert six / len(FAMILIES) == pytest.approx(0.622, abs=0.02)


def test_55_percent_urban_and_5_3_people_per_family():
    assert sum(f.settlement == "urban" for f in FAMILIES) / len(FAMILIES) == pytest.approx(0.55, abs=0.02)
    assert len(PEOPLE) / len(FAMILIES) == pytest.approx(5.3, abs=0.1)


def test_the_social_statuses_are_seed_003s():
    statuses = Counter(social_status(FamilyMember(**{k: v for k, v in m.items() if k != "phone"}), TODAY)
                       for m in PEOPLE)
    for status, percent in (("children", 66.6), ("employed", 14.3), ("carers", 12.2), ("students", 3.9),
                            ("unemployed", 1.4), ("other_status", 1.6)):
        assert statuses[status] / len(PEOPLE) == pytest.approx(percent / 100, abs=0.012), status


def test_every_family_can_be_submitted_as_generated():
    iins = [m["iin"] for m in PEOPLE]
    assert len(set(iins)) == len(iins)
    phones = [m["phone"] for m in PEOPLE if "phone" in m] + [f.fdc_phone for f in FAMILIES]
    assert len(set(phones)) == len(phones)
    for family in FAMILIES[:500]:
        assert [m["relation"] for m in family.members].count("applicant") == 1
        applicant = family.members[0]
        assert applicant["relation"] == "applicant"
        assert parse_iin(applicant["iin"]).birth_date.isoformat() == applicant["birth_date"]
        # every adult but the applicant (who consents in the portal) has a phone for the SMS from 1414
        for m in family.members[1:]:
            assert ("phone" in m) == (m["relation"] != "child")
        assert IBAN(family.iban).bic == family.bank_code


def test_some_families_are_flagged_by_the_fdc_first_and_most_of_them_apply():
    invited = [f for f in FAMILIES if f.invited]
    assert 0.09 < len(invited) / len(FAMILIES) < 0.15
    assert 0.6 < sum(f.applies for f in invited) / len(invited) < 0.8
    assert all(f.applies for f in FAMILIES if not f.invited)


def test_the_same_seed_gives_the_same_families_and_another_other_ones():
    again = generate_families(50, seed=20261130, today=TODAY, run=7)
    assert [f.members for f in again] == [f.members for f in FAMILIES[:50]]
    other = generate_families(50, seed=1, today=TODAY, run=8)
    assert not {m["iin"] for f in other for m in f.members} & {m["iin"] for f in again for m in f.members}


def test_a_small_run_works_too():
    assert len(generate_families(1, seed=3, today=TODAY)) == 1


def test_ibans_carry_their_banks_code_and_valid_check_digits():
    for bank in ("CASPKZKA", "HSBKKZKX", "KCJBKZKX"):
        assert IBAN(kz_iban(bank, 1234567)).bic == bank
