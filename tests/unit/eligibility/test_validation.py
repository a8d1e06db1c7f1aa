from dataclasses import replace
from datetime import date
from decimal import Decimal

from services.eligibility.domain import Expenses, FieldError, History, Income, Member, validate_case

from .support import applicant, child, family, monthly, spouse

A = applicant()


def paths(case) -> list[str]:
    return [error.path for error in validate_case(case)]


def test_a_valid_family_has_no_errors():
    assert validate_case(family(A, spouse(), child("2020-01-01"), incomes=monthly(A, "wage", ("2026-01",), 1))) == []


def test_unknown_region():
    assert paths(family(A, region="990000000")) == ["region_kato"]
    assert paths(family(A, region="71000000")) == ["region_kato"]
    assert paths(family(A, region="71000000x")) == ["region_kato"]


def test_exactly_one_applicant():
    assert paths(family(spouse())) == ["members"]
    assert paths(family(A, applicant("1990-01-01"))) == ["members"]
    assert paths(family()) == ["members"]


def test_iin_checksum_birth_date_and_sex():
    bad_checksum = Member("791028302729", date(1979, 10, 28), "male", "spouse")
    wrong_birth = Member("791028302728", date(1979, 10, 29), "male", "spouse")
    wrong_sex = Member("791028302728", date(1979, 10, 28), "female", "spouse")
    assert paths(family(A, bad_checksum)) == ["members[1].iin"]
    assert paths(family(A, wrong_birth)) == ["members[1].birth_date"]
    assert paths(family(A, wrong_sex)) == ["members[1].sex"]


def test_duplicate_member():
    errors = validate_case(family(A, A))
    assert errors == [FieldError("members", "exactly one member must have relation 'applicant', found 2"),
                      FieldError("members[1].iin", "duplicate member: same IIN as members[0]")]


def test_unknown_relation_sex_and_disability_group():
    odd = Member(A.iin, A.birth_date, A.sex, "applicant", disability_group=4)
    assert paths(family(odd)) == ["members[0].disability_group"]
    assert paths(family(A, replace(child("2020-01-01"), relation="cousin"))) == ["members[1].relation"]
    assert paths(family(A, replace(child("2020-01-01"), sex="x"))) == ["members[1].sex"]


def test_born_after_the_application_date():
    assert paths(family(A, child("2026-05-20"))) == ["members[1].birth_date"]


def test_income_errors():
    stranger = "791028302728"
    case = family(A, incomes=(
        Income(stranger, "wage", date(2026, 1, 1), Decimal(1)),
        Income(A.iin, "salary", date(2026, 1, 1), Decimal(1)),
        Income(A.iin, "wage", date(2026, 1, 15), Decimal(1)),
        Income(A.iin, "wage", date(2026, 1, 1), Decimal("-1")),
        Income(A.iin, "wage", date(2026, 1, 1), Decimal("1.001")),
        Income(A.iin, "wage", date(2026, 1, 1), Decimal("NaN")),
    ))
    assert paths(case) == ["incomes[0].iin", "incomes[1].type", "incomes[2].month", "incomes[3].amount",
                           "incomes[4].amount", "incomes[5].amount"]


def test_expense_amounts():
    case = family(A, expenses=Expenses(True, False, Decimal("-5"), Decimal("0.001"), Decimal(0)))
    assert paths(case) == ["expenses.non_mortgage_loans", "expenses.account_spending"]


def test_a_contract_cannot_be_terminated_after_the_application():
    assert paths(family(A, history=History(contract_terminated_on=date(2026, 5, 16)))) == [
        "history.contract_terminated_on"]
    assert paths(family(A, history=History(contract_terminated_on=date(2026, 5, 15)))) == []


def test_messages_do_not_contain_iins():
    case = family(A, A, incomes=(Income("791028302728", "wage", date(2026, 1, 1), Decimal(1)),))
    for error in validate_case(case):
        assert A.iin not in error.message and "791028302728" not in error.message
