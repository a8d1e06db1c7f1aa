from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.iin import check_digit, compose_iin, has_valid_check_digit, is_valid_iin, parse_iin


@pytest.mark.parametrize(("iin", "birth", "sex"), [
    ("791028302728", date(1979, 10, 28), "male"),
    ("061211600012", date(2006, 12, 11), "female"),
    ("820108350867", date(1982, 1, 8), "male"),
])
def test_valid_examples_give_birth_date_and_sex(iin, birth, sex):
    facts = parse_iin(iin)
    assert facts is not None
    assert (facts.birth_date, facts.sex) == (birth, sex)


@pytest.mark.parametrize("iin", [
    "791028302729",  # wrong check digit
    "79102830272",  # 11 digits
    "7910283027280",  # 13 digits
    "79102830272a",
    "７９１０２８３０２７２８",  # non-ASCII digits
    "791328302728",  # month 13 (check digit recomputed below would still not make it a date)
])
def test_invalid(iin):
    assert not is_valid_iin(iin)


def test_a_valid_check_digit_on_an_impossible_date_is_still_invalid():
    first_eleven = "7902303" + "0272"  # 30 February
    iin = first_eleven + str(check_digit(first_eleven))
    assert has_valid_check_digit(iin)
    assert parse_iin(iin) is None


def test_century_digit_outside_1_to_6_is_invalid():
    first_eleven = "7910280" + "0272"
    digit = check_digit(first_eleven)
    assert digit is not None and parse_iin(first_eleven + str(digit)) is None


def test_second_pass_weights_are_used_when_the_first_gives_10():
    # find 11 digits whose first-pass remainder is 10 and check against the second pass by hand
    for serial in range(10000):
        first = f"8001013{serial:04d}"
        digits = [int(c) for c in first]
        if sum(d * w for d, w in zip(digits, range(1, 12))) % 11 == 10:
            second = sum(d * w for d, w in zip(digits, (3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2))) % 11
            assert check_digit(first) == (None if second == 10 else second)
            break
    else:  # pragma: no cover
        pytest.fail("no serial with a first-pass remainder of 10")


def test_no_check_digit_when_both_passes_give_10():
    impossible = [f"8001013{s:04d}" for s in range(10000) if check_digit(f"8001013{s:04d}") is None]
    assert impossible, "expected some serials without a check digit"
    assert compose_iin(date(1980, 1, 1), "male", int(impossible[0][-4:])) is None


@given(st.dates(date(1800, 1, 1), date(2099, 12, 31)), st.sampled_from(["male", "female"]), st.integers(0, 9999))
def test_composed_iins_parse_back(birth, sex, serial):
    iin = compose_iin(birth, sex, serial)
    if iin is not None:
        facts = parse_iin(iin)
        assert facts is not None and (facts.birth_date, facts.sex) == (birth, sex)


def test_masking_hides_the_middle_of_every_iin():
    from shared.iin import mask_iin, mask_iins_in

    assert mask_iin("791028302728") == "7910******28"
    assert mask_iins_in("members 791028302728 and 061211600012; phone 87011234567") == (
        "members 7910******28 and 0612******12; phone 87011234567")


def test_iin_problems_name_what_disagrees():
    from shared.iin import iin_problems

    assert iin_problems("791028302728", date(1979, 10, 28), "male") == []
    assert iin_problems("791028302728", date(1979, 10, 29), "female") == [
        "birth date does not match the IIN", "sex does not match the IIN"]
    assert iin_problems("791028302729") == ["IIN check digit is wrong"]
    assert iin_problems("79102830272") == ["IIN must be 12 digits"]
