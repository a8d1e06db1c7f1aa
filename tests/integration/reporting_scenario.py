"""One quarter's events for the dashboard's tests, and the figures a person counts by hand from them.

The quarter 2031-Q2 is this scenario's alone (no other test has an application or an invitation
in it): filtered on it, the dashboard shows exactly these figures, whatever else the shared broker
holds. Every event carries its own time, so the backlog's ages are fixed by the clock the test
sets (`TODAY`: Tuesday 20 May 2031, 15:00 in Almaty).

Eight applications of 2031-Q2 and one of 2031-Q1 (which the quarter's figures must leave out):

| app | region    | settlement | members (status on the application date)            | what happens                      |
|-----|-----------|------------|-----------------------------------------------------|-----------------------------------|
| A   | Turkestan | urban      | mother 35 employed, children 5 and 10               | approved (2 × 40 000), contract drafted, signed, terminated; May settled (two orders: TSA and child supplement), June failed; consent granted; FDC invitation 1 |
| B   | Shymkent  | rural      | grandmother 71, aunt 41 carer, grandchild 4         | approved (2 × 30 000), May settled; consent granted; FDC invitation 3 (converted before it was issued) |
| C   | Turkestan | rural      | father 46, mother 43 carer, son 21 student, girl 11 | submitted 19 May: 1 business day  |
| D   | Turkestan | urban      | father 51 employed, son 16                          | rejected; consent refused         |
| E   | Kyzylorda | urban      | man 61                                              | withdrawn; consent withdrawn      |
| F   | Shymkent  | urban      | woman 40, girl 8                                    | submitted 21 April, a bank overdue: 18 business days |
| G   | Turkestan | urban      | man 30                                              | submitted 12 May, verified: 6 business days (7 and 9 May are holidays) |
| H   | Shymkent  | rural      | woman 33                                            | submitted 14 May: 4 business days |
| Q   | Turkestan | urban      | woman 50 (2031-Q1)                                  | approved, paid; extended into 2031-Q2 (3 × 45 000 TSA + 5 000 supplement) |

FDC invitation 2 (Shymkent) was issued and never converted; invitation 4 is of 2031-Q1.

A reassessment run (`eligibility.extended`, 25 March) extends Q into 2031-Q2 (payments plans its three
months: the quarter's payment figures count them, by the month paid), and two families seeded
into eligibility's register (no application's events: members unknown): T (Shymkent, rural)
extended, 3 × 20 000; S (Kyzylorda, rural) not, its income not below the line. An early run for
2031-Q3 does not extend B (a ban): 2031-Q2's figures keep B, the figures of every quarter do not.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

from shared.calendar import ALMATY
from shared.events import Envelope
from shared.events.contracts import (
    TOPICS,
    ApplicationSubmitted,
    ApplicationWithdrawn,
    BankAccount,
    CaseContext,
    ConsentGranted,
    ConsentRecord,
    ConsentRefused,
    ConsentRequested,
    ConsentWithdrawn,
    ContractDrafted,
    ContractSigned,
    ContractTerminated,
    EligibilityDecided,
    EligibilityExtended,
    FamilyMember,
    FdcInvitationConverted,
    FdcInvitationIssued,
    MonthlyAmount,
    Obligation,
    PaymentFailed,
    PaymentScheduled,
    PaymentSettled,
    ScheduledPayment,
    VerificationCompleted,
    VerificationOverdue,
)
from tests.support import person

QUARTER = "2031-Q2"
TURKESTAN, SHYMKENT, KYZYLORDA = "610000000", "790000000", "430000000"
# The dashboard's clock: Tuesday 20 May 2031, 15:00 in Almaty.
TODAY = datetime(2031, 5, 20, 15, 0, tzinfo=ALMATY)


def almaty(day: date, hour: int = 10) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=ALMATY)


def _member(birth: date, sex: str, relation: str, **flags: Any) -> FamilyMember:
    return FamilyMember(**person(birth, sex, relation, **flags))


@dataclass
class Scenario:
    events: list[Envelope] = field(default_factory=list)

    def add(self, payload: Any, *, source: str, key: Any, at: datetime) -> Envelope:
        envelope = Envelope.wrap(payload, source=source, key=str(key)).model_copy(update={"occurred_at": at})
        self.events.append(envelope)
        return envelope

    @staticmethod
    def topic(envelope: Envelope) -> str:
        return TOPICS[envelope.source]


def _context(app: uuid.UUID, region: str, settlement: str, on: date, bank: str = "HSBKKZKX") -> CaseContext:
    return CaseContext(application_id=app, application_date=on, region_kato=region, settlement=settlement,
                       channel="egov", bank_account=BankAccount(iban="KZ86125KZT5004100100", bank_code=bank))


def _consent(app: uuid.UUID, status: str, at: datetime) -> ConsentRecord:
    return ConsentRecord(
        consent_id=uuid.uuid5(uuid.NAMESPACE_URL, f"consent:{app}"), application_id=app, iin="000000000000",
        purpose="tsa_expense_check", data_categories=["account_aggregates"], assessment_quarter="2031-Q1",
        controller="MLSPP", legal_basis="consent", banks=[], method="sms_1414", status=status,  # type: ignore[arg-type]
        requested_at=at, expires_at=at)


def build() -> Scenario:  # noqa: PLR0915 - one scenario, read top to bottom
    s = Scenario()
    ids = {name: uuid.uuid4() for name in "ABCDEFGHQ"}

    def application(name: str, region: str, settlement: str, on: date, members: list[FamilyMember],
                    bank: str = "HSBKKZKX") -> CaseContext:
        context = _context(ids[name], region, settlement, on, bank)
        s.add(ApplicationSubmitted(application=context, expense_check_consent=True, members=members),
              source="intake", key=ids[name], at=almaty(on))
        return context

    def decided(context: CaseContext, members: list[FamilyMember], eligible: bool, kind: str,
                monthly: list[tuple[str, int]], at: datetime) -> EligibilityDecided:
        decision = EligibilityDecided(
            application=context, decision_id=uuid.uuid4(), eligible=eligible, kind=kind,  # type: ignore[arg-type]
            assessment_quarter="2031-Q1", period_quarter=QUARTER if context.application_date.month > 3 else "2031-Q1",
            poverty_line=40000, per_capita_income="10000.00",
            monthly=[MonthlyAmount(month=m, tsa=t, child_supplement=0, total=t) for m, t in monthly],
            reasons=[], rules_version="test", members=members)
        s.add(decision, source="eligibility", key=context.application_id, at=at)
        return decision

    def scheduled(decision: EligibilityDecided, payments: list[tuple[uuid.UUID, str, int]], at: datetime) -> None:
        context = decision.application
        s.add(PaymentScheduled(
            application_id=context.application_id, decision_id=decision.decision_id, region_kato=context.region_kato,
            settlement=context.settlement, bank_code=context.bank_account.bank_code,
            payments=[ScheduledPayment(payment_id=p, month=m, tsa=t, child_supplement=0, total=t) for p, m, t in payments],
            total=sum(t for _, _, t in payments)), source="payments", key=context.application_id, at=at)

    # ---- A: approved, a contract, paid in May, June failed; invitation 1 -----------------------------
    day = date(2031, 5, 5)
    a_members = [_member(date(1996, 3, 1), "female", "applicant", employed=True),
                 _member(date(2026, 1, 10), "male", "child"), _member(date(2021, 2, 2), "female", "child")]
    invitation_1 = uuid.uuid4()
    s.add(FdcInvitationIssued(invitation_id=invitation_1, quarter=QUARTER, region_kato=TURKESTAN, settlement="urban",
                              channel="fdc_sms", category="D", members=3, invited_at=almaty(date(2031, 4, 28)),
                              apply_by=date(2031, 5, 28)), source="intake", key=invitation_1,
          at=almaty(date(2031, 4, 28)))
    a = application("A", TURKESTAN, "urban", day, a_members)
    s.add(FdcInvitationConverted(invitation_id=invitation_1, application_id=ids["A"], quarter=QUARTER,
                                 region_kato=TURKESTAN, channel="fdc_sms", applied_at=almaty(day)),
          source="intake", key=invitation_1, at=almaty(day))
    s.add(ConsentRequested(consent=_consent(ids["A"], "requested", almaty(day)), family_consent="pending"),
          source="intake", key=ids["A"], at=almaty(day, 11))
    s.add(ConsentGranted(consent=_consent(ids["A"], "granted", almaty(day)), family_consent="granted"),
          source="intake", key=ids["A"], at=almaty(day, 12))
    a_decision = decided(a, a_members, True, "conditional", [("2031-05", 40000), ("2031-06", 40000)],
                         almaty(day, 14))
    contract = uuid.uuid4()
    contract_ids = dict(contract_id=contract, application_id=ids["A"], decision_id=a_decision.decision_id)
    s.add(ContractDrafted(**contract_ids, obligations=[Obligation(iin=a_members[0].iin, measure="stay_employed")]),
          source="contracts", key=ids["A"], at=almaty(day, 15))
    s.add(ContractSigned(**contract_ids, signed_at=almaty(day, 16)), source="contracts", key=ids["A"],
          at=almaty(day, 16))
    may_a, june_a = uuid.uuid4(), uuid.uuid4()
    scheduled(a_decision, [(may_a, "2031-05", 40000), (june_a, "2031-06", 40000)], almaty(day, 17))
    # The banks report orders: their `payment_id` is the order's id, not the scheduled payment's;
    # May is paid in two orders (the TSA and the child supplement): one family month settled.
    for amount in (35000, 5000):
        s.add(PaymentSettled(payment_id=uuid.uuid4(), application_id=ids["A"], month="2031-05", total=amount,
                             bank_code="HSBKKZKX"), source="payments", key=ids["A"], at=almaty(date(2031, 5, 15)))
    s.add(PaymentFailed(payment_id=uuid.uuid4(), application_id=ids["A"], month="2031-06", total=40000,
                        bank_code="HSBKKZKX", reason="account_closed"), source="payments", key=ids["A"],
          at=almaty(date(2031, 5, 16)))
    s.add(ContractTerminated(contract_id=contract, application_id=ids["A"], terminated_on=date(2031, 5, 16),
                             reason="non_fulfilment", member_iins=[a_members[0].iin]),
          source="contracts", key=ids["A"], at=almaty(date(2031, 5, 16), 12))

    # ---- B: approved, paid in May; invitation 3 ------------------------------------------------------
    day = date(2031, 5, 6)
    b_members = [_member(date(1960, 1, 1), "female", "applicant"),
                 _member(date(1990, 6, 6), "female", "other", carer=True),
                 _member(date(2027, 3, 3), "male", "grandchild")]
    b = application("B", SHYMKENT, "rural", day, b_members, bank="CASPKZKA")
    invitation_3 = uuid.uuid4()
    s.add(FdcInvitationIssued(invitation_id=invitation_3, quarter=QUARTER, region_kato=SHYMKENT, settlement="rural",
                              channel="fdc_sms", category="E", members=3, invited_at=almaty(date(2031, 4, 29)),
                              apply_by=date(2031, 5, 29)), source="intake", key=invitation_3,
          at=almaty(date(2031, 4, 29)))
    s.add(FdcInvitationConverted(invitation_id=invitation_3, application_id=ids["B"], quarter=QUARTER,
                                 region_kato=SHYMKENT, channel="fdc_sms", applied_at=almaty(day)),
          source="intake", key=invitation_3, at=almaty(day))
    s.add(ConsentRequested(consent=_consent(ids["B"], "requested", almaty(day)), family_consent="pending"),
          source="intake", key=ids["B"], at=almaty(day, 11))
    s.add(ConsentGranted(consent=_consent(ids["B"], "granted", almaty(day)), family_consent="granted"),
          source="intake", key=ids["B"], at=almaty(day, 12))
    b_decision = decided(b, b_members, True, "unconditional", [("2031-05", 30000), ("2031-06", 30000)],
                         almaty(day, 14))
    may_b, june_b = uuid.uuid4(), uuid.uuid4()
    scheduled(b_decision, [(may_b, "2031-05", 30000), (june_b, "2031-06", 30000)], almaty(day, 17))
    s.add(PaymentSettled(payment_id=uuid.uuid4(), application_id=ids["B"], month="2031-05", total=30000,
                         bank_code="CASPKZKA"), source="payments", key=ids["B"], at=almaty(date(2031, 5, 15)))

    # ---- C, D, E, F, G, H ------------------------------------------------------------------------------
    application("C", TURKESTAN, "rural", date(2031, 5, 19), [
        _member(date(1985, 1, 1), "male", "applicant"), _member(date(1988, 2, 2), "female", "spouse", carer=True),
        _member(date(2010, 1, 1), "male", "child", full_time_student=True),
        _member(date(2020, 1, 1), "female", "child")])
    day = date(2031, 5, 14)
    d_members = [_member(date(1980, 1, 1), "male", "applicant", employed=True), _member(date(2015, 1, 1), "male", "child")]
    d = application("D", TURKESTAN, "urban", day, d_members)
    s.add(ConsentRequested(consent=_consent(ids["D"], "requested", almaty(day)), family_consent="pending"),
          source="intake", key=ids["D"], at=almaty(day, 11))
    s.add(ConsentRefused(consent=_consent(ids["D"], "refused", almaty(day)), family_consent="not_given"),
          source="intake", key=ids["D"], at=almaty(day, 12))
    decided(d, d_members, False, "unconditional", [], almaty(day, 14))
    day = date(2031, 5, 13)
    application("E", KYZYLORDA, "urban", day, [_member(date(1970, 1, 1), "male", "applicant")])
    s.add(ConsentRequested(consent=_consent(ids["E"], "requested", almaty(day)), family_consent="pending"),
          source="intake", key=ids["E"], at=almaty(day, 11))
    s.add(ConsentWithdrawn(consent=_consent(ids["E"], "withdrawn", almaty(day)), family_consent="not_given"),
          source="intake", key=ids["E"], at=almaty(day, 12))
    s.add(ApplicationWithdrawn(application_id=ids["E"], reason="changed_mind", withdrawn_at=almaty(day, 13)),
          source="intake", key=ids["E"], at=almaty(day, 13))
    day = date(2031, 4, 21)
    application("F", SHYMKENT, "urban", day, [_member(date(1991, 1, 1), "female", "applicant"),
                                              _member(date(2023, 1, 1), "female", "child")])
    s.add(VerificationOverdue(application_id=ids["F"], banks=["CASPKZKA"], asked_at=almaty(day, 11),
                              deadline=almaty(date(2031, 4, 24))), source="verification", key=ids["F"],
          at=almaty(date(2031, 4, 24)))
    day = date(2031, 5, 12)
    g_members = [_member(date(2001, 1, 1), "male", "applicant")]
    g = application("G", TURKESTAN, "urban", day, g_members)
    s.add(VerificationCompleted(application=g, evidence_id=uuid.uuid4(), assessment_quarter="2031-Q1",
                                members=g_members, incomes=[]), source="verification", key=ids["G"],
          at=almaty(day, 12))
    application("H", SHYMKENT, "rural", date(2031, 5, 14), [_member(date(1998, 1, 1), "female", "applicant")])

    # ---- another quarter: Q, and invitation 4; invitation 2 never converts -----------------------------
    day = date(2031, 3, 20)
    q_members = [_member(date(1981, 1, 1), "female", "applicant")]
    q = application("Q", TURKESTAN, "urban", day, q_members)
    q_decision = decided(q, q_members, True, "unconditional", [("2031-03", 50000)], almaty(day, 14))
    paid_q = uuid.uuid4()
    scheduled(q_decision, [(paid_q, "2031-03", 50000)], almaty(day, 17))
    s.add(PaymentSettled(payment_id=uuid.uuid4(), application_id=ids["Q"], month="2031-03", total=50000,
                         bank_code="HSBKKZKX"), source="payments", key=ids["Q"], at=almaty(date(2031, 3, 25)))
    for invitation, quarter, region, on in ((uuid.uuid4(), QUARTER, SHYMKENT, date(2031, 4, 30)),
                                            (uuid.uuid4(), "2031-Q1", TURKESTAN, date(2031, 2, 2))):
        s.add(FdcInvitationIssued(invitation_id=invitation, quarter=quarter, region_kato=region, settlement="urban",
                                  channel="fdc_sms", category="low_income", members=2, invited_at=almaty(on),
                                  apply_by=date(2031, 6, 1)), source="intake", key=invitation, at=almaty(on))
    # ---- reassessment runs (eligibility.extended): Q into 2031-Q2; T and S, seeded families ----------------
    # (no application's events: their members are not known), into 2031-Q2; B not into 2031-Q3
    run = uuid.uuid4()
    ids["T"], ids["S"] = uuid.uuid4(), uuid.uuid4()

    def extended(name: str, quarter: str, region: str, settlement: str, monthly: list[tuple[str, int, int]],
                 reasons: list[str], at: datetime) -> None:
        s.add(EligibilityExtended(
            application_id=ids[name], decision_id=uuid.uuid4(), run_id=run, period_quarter=quarter,
            eligible=bool(monthly), kind="unconditional", region_kato=region, settlement=settlement,  # type: ignore[arg-type]
            monthly=[MonthlyAmount(month=m, tsa=t, child_supplement=c, total=t + c) for m, t, c in monthly],
            reasons=reasons), source="eligibility", key=ids[name], at=at)

    run_day = almaty(date(2031, 3, 25), 3)
    extended("Q", QUARTER, TURKESTAN, "urban", [(m, 45000, 5000) for m in ("2031-04", "2031-05", "2031-06")],
             ["INCOME_BELOW_POVERTY_LINE", "CHILD_SUPPLEMENT"], run_day)
    # payments plans Q's extended quarter: the 2031-Q2 figures count its months (by the month paid)
    s.add(PaymentScheduled(
        application_id=ids["Q"], decision_id=uuid.uuid4(), region_kato=TURKESTAN, settlement="urban",
        bank_code="HSBKKZKX", total=150000,
        payments=[ScheduledPayment(payment_id=uuid.uuid4(), month=m, tsa=45000, child_supplement=5000, total=50000)
                  for m in ("2031-04", "2031-05", "2031-06")]), source="payments", key=ids["Q"],
        at=almaty(date(2031, 3, 28)))
    extended("T", QUARTER, SHYMKENT, "rural", [(m, 20000, 0) for m in ("2031-04", "2031-05", "2031-06")],
             ["INCOME_BELOW_POVERTY_LINE"], run_day)
    extended("S", QUARTER, KYZYLORDA, "rural", [], ["INCOME_NOT_BELOW_POVERTY_LINE", "POVERTY_LINE_FROM_MEDIAN"],
             run_day)
    extended("B", "2031-Q3", SHYMKENT, "rural", [], ["INCOME_BELOW_POVERTY_LINE", "BAN_ACTIVE"],
             almaty(date(2031, 5, 18), 3))
    s.ids = ids  # type: ignore[attr-defined]
    return s


def _region(kato: str, en: str, ru: str, kk: str, *figures: int) -> dict[str, Any]:
    names = ("applications", "approved", "recipient_families", "recipient_people", "amount_assigned", "backlog")
    return {"region_kato": kato, "name": {"en": en, "ru": ru, "kk": kk}, **dict(zip(names, figures, strict=True))}


def _zero_regions(*shown: str) -> list[dict[str, Any]]:
    from shared.regions import KATO, REGIONS

    return [_region(f"{p}0000000", KATO[f"{p}0000000"].name_en, KATO[f"{p}0000000"].name_ru,
                    KATO[f"{p}0000000"].name_kk, 0, 0, 0, 0, 0, 0)
            for p in sorted(REGIONS) if f"{p}0000000" not in shown]


def _zero_backlog_regions(*shown: str) -> list[dict[str, Any]]:
    from shared.regions import REGIONS

    return [{"region_kato": f"{p}0000000", "0-2": 0, "3-5": 0, "6-10": 0, "over-10": 0, "total": 0}
            for p in sorted(REGIONS) if f"{p}0000000" not in shown]


def expected_quarter(scenario: Scenario) -> dict[str, Any]:
    """The dashboard of 2031-Q2, every region, counted by hand from the table above."""
    ids = scenario.ids  # type: ignore[attr-defined]
    # recipients: A and Q (extended) in Turkestan, B and T (extended) in Shymkent
    turkestan = _region(TURKESTAN, "Turkestan region", "Туркестанская область", "Түркістан облысы",
                        4, 1, 2, 4, 230000, 2)
    shymkent = _region(SHYMKENT, "Shymkent", "город Шымкент", "Шымкент қаласы", 3, 1, 2, 3, 120000, 2)
    kyzylorda = _region(KYZYLORDA, "Kyzylorda region", "Кызылординская область", "Қызылорда облысы",
                        1, 0, 0, 0, 0, 0)
    return {
        "quarter": QUARTER, "region_kato": None,
        "as_of": "2031-05-19T05:00:00Z",  # the latest event: C's submission, 10:00 in Almaty (UTC+5)
        "headline": {"applications": 8, "decided": 3, "approved": 2, "rejected": 1, "undecided": 4, "withdrawn": 1,
                     "recipient_families": 4, "recipient_people": 7, "amount_assigned": 350000,
                     "amount_paid": 70000},
        "regions": [turkestan, shymkent, kyzylorda, *_zero_regions(TURKESTAN, SHYMKENT, KYZYLORDA)],
        "settlement": [
            {"settlement": "urban", "applications": 5, "recipient_families": 2, "recipient_people": 4,
             "amount_assigned": 230000},
            {"settlement": "rural", "applications": 3, "recipient_families": 2, "recipient_people": 3,
             "amount_assigned": 120000}],
        # Q's woman (50, without a job) is unemployed, as her application told
        "social_status": [{"status": "children", "people": 3}, {"status": "employed", "people": 1},
                          {"status": "carers", "people": 1}, {"status": "students", "people": 0},
                          {"status": "unemployed", "people": 1}, {"status": "other", "people": 1}],
        "backlog": {
            "total": 4,
            "buckets": [{"bucket": "0-2", "count": 1}, {"bucket": "3-5", "count": 1},
                        {"bucket": "6-10", "count": 1}, {"bucket": "over-10", "count": 1}],
            "by_region": [
                {"region_kato": TURKESTAN, "0-2": 1, "3-5": 0, "6-10": 1, "over-10": 0, "total": 2},
                {"region_kato": SHYMKENT, "0-2": 0, "3-5": 1, "6-10": 0, "over-10": 1, "total": 2},
                *_zero_backlog_regions(TURKESTAN, SHYMKENT)],
            "oldest": [
                {"application_id": str(ids["F"]), "region_kato": SHYMKENT, "stage": "verification_overdue",
                 "submitted_at": "2031-04-21T05:00:00Z", "business_days": 18},
                {"application_id": str(ids["G"]), "region_kato": TURKESTAN, "stage": "verified",
                 "submitted_at": "2031-05-12T05:00:00Z", "business_days": 6},
                {"application_id": str(ids["H"]), "region_kato": SHYMKENT, "stage": "submitted",
                 "submitted_at": "2031-05-14T05:00:00Z", "business_days": 4},
                {"application_id": str(ids["C"]), "region_kato": TURKESTAN, "stage": "submitted",
                 "submitted_at": "2031-05-19T05:00:00Z", "business_days": 1}]},
        "consent": {"requested": 4, "granted": 2, "refused": 1, "expired": 0, "withdrawn": 1},
        "fdc_funnel": {
            "totals": {"invited": 3, "applied": 2, "approved": 2, "paid": 2},
            "by_region": [{"region_kato": TURKESTAN, "invited": 1, "applied": 1, "approved": 1, "paid": 1},
                          {"region_kato": SHYMKENT, "invited": 2, "applied": 1, "approved": 1, "paid": 1}],
            "by_channel": [{"channel": "fdc_sms", "invited": 3, "applied": 2, "approved": 2, "paid": 2}]},
        "contracts": {"drafted": 1, "signed": 1, "lapsed": 0, "terminated": 1, "completed": 0,
                      "measures": [{"measure": "stay_employed", "count": 1}, {"measure": "job_placement", "count": 0},
                                   {"measure": "public_works", "count": 0}, {"measure": "training", "count": 0},
                                   {"measure": "entrepreneurship_grant", "count": 0}]},
        "payments": {
            "by_bank": [{"bank_code": "CASPKZKA", "ordered": 2, "settled": 1, "failed": 0, "amount_ordered": 60000,
                         "amount_settled": 30000},
                        # A's two months and Q's three (its extension)
                        {"bank_code": "HSBKKZKX", "ordered": 5, "settled": 1, "failed": 1, "amount_ordered": 230000,
                         "amount_settled": 40000}],
            "by_month": [{"month": "2031-04", "ordered": 1, "settled": 0, "failed": 0, "amount_settled": 0},
                         {"month": "2031-05", "ordered": 3, "settled": 2, "failed": 0, "amount_settled": 70000},
                         {"month": "2031-06", "ordered": 3, "settled": 0, "failed": 1, "amount_settled": 0}]},
        "extensions": {
            "extended": 2, "ended": 1, "amount_assigned": 210000, "tsa": 195000, "child_supplement": 15000,
            "ended_by_reason": [{"reason": "INCOME_NOT_BELOW_POVERTY_LINE", "families": 1}],
            "by_region": [{"region_kato": TURKESTAN, "extended": 1, "ended": 0, "amount_assigned": 150000},
                          {"region_kato": SHYMKENT, "extended": 1, "ended": 0, "amount_assigned": 60000},
                          {"region_kato": KYZYLORDA, "extended": 0, "ended": 1, "amount_assigned": 0}],
            "settlement": [{"settlement": "urban", "extended": 1, "ended": 0, "amount_assigned": 150000},
                           {"settlement": "rural", "extended": 1, "ended": 1, "amount_assigned": 60000}]},
    }


def expected_shymkent(scenario: Scenario) -> dict[str, Any]:
    """The same quarter, Shymkent only: every other region shows zeros."""
    ids = scenario.ids  # type: ignore[attr-defined]
    everything = expected_quarter(scenario)
    shymkent = next(r for r in everything["regions"] if r["region_kato"] == SHYMKENT)
    return everything | {
        "region_kato": SHYMKENT,
        "headline": {"applications": 3, "decided": 1, "approved": 1, "rejected": 0, "undecided": 2, "withdrawn": 0,
                     "recipient_families": 2, "recipient_people": 3, "amount_assigned": 120000, "amount_paid": 30000},
        "regions": [shymkent, *_zero_regions(SHYMKENT)],
        "settlement": [
            {"settlement": "urban", "applications": 1, "recipient_families": 0, "recipient_people": 0,
             "amount_assigned": 0},
            {"settlement": "rural", "applications": 2, "recipient_families": 2, "recipient_people": 3,
             "amount_assigned": 120000}],
        "social_status": [{"status": "children", "people": 1}, {"status": "employed", "people": 0},
                          {"status": "carers", "people": 1}, {"status": "students", "people": 0},
                          {"status": "unemployed", "people": 0}, {"status": "other", "people": 1}],
        "backlog": {
            "total": 2,
            "buckets": [{"bucket": "0-2", "count": 0}, {"bucket": "3-5", "count": 1},
                        {"bucket": "6-10", "count": 0}, {"bucket": "over-10", "count": 1}],
            "by_region": [{"region_kato": SHYMKENT, "0-2": 0, "3-5": 1, "6-10": 0, "over-10": 1, "total": 2}],
            "oldest": [
                {"application_id": str(ids["F"]), "region_kato": SHYMKENT, "stage": "verification_overdue",
                 "submitted_at": "2031-04-21T05:00:00Z", "business_days": 18},
                {"application_id": str(ids["H"]), "region_kato": SHYMKENT, "stage": "submitted",
                 "submitted_at": "2031-05-14T05:00:00Z", "business_days": 4}]},
        "consent": {"requested": 1, "granted": 1, "refused": 0, "expired": 0, "withdrawn": 0},
        "fdc_funnel": {
            "totals": {"invited": 2, "applied": 1, "approved": 1, "paid": 1},
            "by_region": [{"region_kato": SHYMKENT, "invited": 2, "applied": 1, "approved": 1, "paid": 1}],
            "by_channel": [{"channel": "fdc_sms", "invited": 2, "applied": 1, "approved": 1, "paid": 1}]},
        "contracts": {"drafted": 0, "signed": 0, "lapsed": 0, "terminated": 0, "completed": 0,
                      "measures": [{"measure": m, "count": 0} for m in (
                          "stay_employed", "job_placement", "public_works", "training", "entrepreneurship_grant")]},
        "payments": {
            "by_bank": [{"bank_code": "CASPKZKA", "ordered": 2, "settled": 1, "failed": 0, "amount_ordered": 60000,
                         "amount_settled": 30000}],
            "by_month": [{"month": "2031-05", "ordered": 1, "settled": 1, "failed": 0, "amount_settled": 30000},
                         {"month": "2031-06", "ordered": 1, "settled": 0, "failed": 0, "amount_settled": 0}]},
        "extensions": {
            "extended": 1, "ended": 0, "amount_assigned": 60000, "tsa": 60000, "child_supplement": 0,
            "ended_by_reason": [],
            "by_region": [{"region_kato": SHYMKENT, "extended": 1, "ended": 0, "amount_assigned": 60000}],
            "settlement": [{"settlement": "urban", "extended": 0, "ended": 0, "amount_assigned": 0},
                           {"settlement": "rural", "extended": 1, "ended": 0, "amount_assigned": 60000}]},
    }
