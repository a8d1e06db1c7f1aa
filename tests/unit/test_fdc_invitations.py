"""The FDC invitation rules (services/intake/invitations.py): the pre-check's answer, the
de-duplication by person, the conversion window, the SMS in Kazakh and Russian."""

from datetime import date, datetime, timezone

from services.intake import invitations


def test_the_pre_check_invites_an_eligible_family_with_its_first_months_total():
    decision = {"eligible": True, "monthly": [{"month": "2026-05", "total": 41210}, {"month": "2026-06", "total": 41210}],
                "reasons": []}
    assert invitations.pre_check(decision) == invitations.PreCheck("invited", (), 41210)


def test_the_pre_check_gives_the_rules_reason_codes_when_not_eligible():
    decision = {"eligible": False, "monthly": [], "reasons": [{"code": "INCOME_NOT_BELOW_POVERTY_LINE", "params": {}},
                                                               {"code": "BANNED", "params": {}}]}
    assert invitations.pre_check(decision) == invitations.PreCheck(
        "not_likely_eligible", ("INCOME_NOT_BELOW_POVERTY_LINE", "BANNED"))


def test_a_family_is_already_invited_when_any_member_was_invited_this_quarter():
    assert invitations.first_overlap(["1", "2", "3"], {"3", "9"}) == "3"
    assert invitations.first_overlap(["1", "2"], {"9"}) is None
    assert str(invitations.invitation_quarter(date(2026, 3, 31))) == "2026-Q1"
    assert str(invitations.invitation_quarter(date(2026, 4, 1))) == "2026-Q2"


def test_an_application_converts_within_the_window_only():
    invited = datetime(2026, 4, 1, 5, tzinfo=timezone.utc)
    deadline = invitations.conversion_deadline(date(2026, 4, 1), 90)
    assert deadline == date(2026, 6, 30)
    assert invitations.converts(invited_at=invited, expires_on=deadline,
                                submitted_at=datetime(2026, 6, 30, 18, 59, tzinfo=timezone.utc))  # 23:59 Almaty
    assert not invitations.converts(invited_at=invited, expires_on=deadline,
                                    submitted_at=datetime(2026, 6, 30, 19, 1, tzinfo=timezone.utc))  # 1 July
    assert not invitations.converts(invited_at=invited, expires_on=deadline,
                                    submitted_at=datetime(2026, 3, 31, tzinfo=timezone.utc))  # before the invitation


def test_the_sms_is_in_kazakh_then_russian_with_the_link_and_no_personal_data():
    text = invitations.sms_text(sender="1414", link="https://egov.kz/tsa", deadline=date(2026, 6, 30))
    kazakh, russian = text.split("\n")
    assert kazakh == ("1414: Отбасыңыз атаулы әлеуметтік көмек (АӘК) алуға құқылы болуы мүмкін. "
                      "30.06.2026 дейін өтініш беріңіз: https://egov.kz/tsa")
    assert russian == ("1414: Ваша семья, возможно, имеет право на адресную социальную помощь (АСП). "
                       "Подайте заявление до 30.06.2026: https://egov.kz/tsa")


def test_the_portal_notice_shows_the_estimate_in_tenge():
    notice = invitations.notice(link="https://egov.kz/tsa", deadline=date(2026, 6, 30), monthly_amount=41210)
    assert "41\u00a0210\u00a0₸" in notice["kk"] and "41\u00a0210\u00a0₸" in notice["ru"]
    assert "30.06.2026" in notice["ru"] and "https://egov.kz/tsa" in notice["kk"]
