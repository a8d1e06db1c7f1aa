"""FDC invitations, the rules (issue 13, docs/fdc.md): plain Python, no web or database code.

The Family Digital Card (FDC) flags families — category D (crisis), E (emergency) or low income —
and intake answers for each, in this order of checks:

1. `invalid`: the family as sent cannot be read (each field named, `families[i].…`);
2. `already_applying_or_receiving`: a member is on an active application (submitted, being
   decided, approved, paid…);
3. `already_invited`: a member is on an invitation of this quarter already. "The same family" is
   decided by people, not by the FDC's reference: any member in common counts, so a family the
   FDC sends again with one child more, or split, is not invited twice;
4. the pre-check: eligibility's rules (its `POST /v1/eligibility/estimate`) on the incomes the
   income registry holds for the assessment quarter: `invited` when the family would be eligible,
   `not_likely_eligible` with the rules' reason codes otherwise;
5. `not_checked`: the income registry or eligibility could not answer now (nothing is stored; the
   FDC may send the family again).

Only `invited` stores an invitation; its SMS is sent after the commit by the dispatcher.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from shared.calendar import ALMATY, Quarter

INVITED = "invited"
NOT_LIKELY_ELIGIBLE = "not_likely_eligible"
ALREADY_APPLYING_OR_RECEIVING = "already_applying_or_receiving"
ALREADY_INVITED = "already_invited"
INVALID = "invalid"
NOT_CHECKED = "not_checked"
OUTCOMES = (INVITED, NOT_LIKELY_ELIGIBLE, ALREADY_APPLYING_OR_RECEIVING, ALREADY_INVITED, INVALID, NOT_CHECKED)

CATEGORIES = ("D", "E", "low_income")
CHANNEL_SMS = "fdc_sms"  # the SMS with the portal notice beside it; the funnel is kept per channel

# An invitation's own status.
STATUS_INVITED = "invited"
STATUS_APPLIED = "applied"

MAX_BATCH = 1000

# Where an invited family's application stands, for the funnel (intake follows its own
# applications: `approved` once eligibility approved it, `paid` once payments scheduled it —
# intake does not see the banks settle, so "paid" means payments were ordered).
APPROVED_STATUSES = frozenset({"approved", "contract_drafted", "contract_signed", "payments_scheduled",
                               "contract_not_signed", "contract_terminated", "completed"})
PAID_STATUSES = frozenset({"payments_scheduled"})


@dataclass(frozen=True, slots=True)
class PreCheck:
    outcome: str  # invited | not_likely_eligible
    reasons: tuple[str, ...] = ()
    monthly_amount: int | None = None  # the first month's total the estimate gives, tenge


def pre_check(decision: dict[str, Any]) -> PreCheck:
    """The pre-check's answer from eligibility's estimate (a `Decision` as JSON)."""
    if decision.get("eligible"):
        monthly = decision.get("monthly") or []
        return PreCheck(INVITED, (), monthly[0]["total"] if monthly else None)
    return PreCheck(NOT_LIKELY_ELIGIBLE, tuple(r["code"] for r in decision.get("reasons") or ()))


def invitation_quarter(today: date) -> Quarter:
    """Invitations are de-duplicated per calendar quarter of the day they are made."""
    return Quarter.of(today)


def conversion_deadline(invited_on: date, window_days: int) -> date:
    """The last day an application by an invited person counts as the invitation's conversion."""
    return invited_on + timedelta(days=window_days)


def converts(*, invited_at: datetime, expires_on: date, submitted_at: datetime) -> bool:
    """An application submitted from the invitation to the end of its window (Almaty days) converts it."""
    return invited_at <= submitted_at and submitted_at.astimezone(ALMATY).date() <= expires_on


def first_overlap(members: list[str], taken: set[str]) -> str | None:
    """The first member (in the family's order) found in `taken`."""
    return next((iin for iin in members if iin in taken), None)


# ---- what the family reads ------------------------------------------------------------------

def sms_text(*, sender: str, link: str, deadline: date) -> str:
    """The invitation by SMS, in Kazakh then Russian, with the link to apply. No name, no IIN, no
    amount: the SMS may be read by anyone holding the phone."""
    until = deadline.strftime("%d.%m.%Y")
    return (f"{sender}: Отбасыңыз атаулы әлеуметтік көмек (АӘК) алуға құқылы болуы мүмкін. "
            f"{until} дейін өтініш беріңіз: {link}\n"
            f"{sender}: Ваша семья, возможно, имеет право на адресную социальную помощь (АСП). "
            f"Подайте заявление до {until}: {link}")


def notice(*, link: str, deadline: date, monthly_amount: int | None) -> dict[str, str]:
    """The portal notice, in Kazakh and Russian (the portal shows it to the citizen)."""
    until = deadline.strftime("%d.%m.%Y")
    amount_kk = f" Алдын ала есеп: айына шамамен {_tenge(monthly_amount)}." if monthly_amount else ""
    amount_ru = f" Предварительный расчёт: около {_tenge(monthly_amount)} в месяц." if monthly_amount else ""
    return {
        "kk": f"Отбасылық цифрлық карта бойынша отбасыңыз АӘК алуға құқылы болуы мүмкін.{amount_kk} "
              f"Өтінішті {until} дейін беріңіз: {link}",
        "ru": f"По данным Цифровой карты семьи ваша семья, возможно, имеет право на АСП.{amount_ru} "
              f"Подайте заявление до {until}: {link}",
    }


def _tenge(amount: int | None) -> str:
    return f"{amount:,}".replace(",", "\u00a0") + "\u00a0₸"
