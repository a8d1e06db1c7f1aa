"""Payments: a quarterly assignment paid month by month, every (assignment, month, component)
paid exactly once. Pure Python: the assignment's plan, the payment orders a monthly release makes,
the batches banks pull, the bank's reports and the rules that move them; the service loads, calls
these, saves and emits.

Words (docs/payments.md):
- a *plan month* (`Payment`): what the decision assigns the family for one month (TSA and child
  supplement); `planned` until its month is released;
- a *payment order* (`PaymentOrder`): one component of one plan month sent to one bank account;
  made only by a release, or by a re-issue of a failed order (then `pending` until the next release);
- a *batch*: the orders one release sends to one bank, with a count, a total and a checksum.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from uuid import UUID

from shared.events.contracts import (
    EligibilityDecided,
    EligibilityExtended,
    MonthlyAmount,
    PaymentFailed,
    PaymentScheduled,
    PaymentSettled,
    ScheduledPayment,
)

# assignment statuses
AWAITING_CONTRACT = "awaiting_contract"
SCHEDULED = "scheduled"

# plan month statuses
PLANNED = "planned"
RELEASED = "released"
SETTLED = "settled"
FAILED = "failed"
CANCELLED = "cancelled"
RECALLED = "recalled"
REISSUE_PENDING = "reissue_pending"
PLAN_STATUSES = (PLANNED, RELEASED, SETTLED, FAILED, CANCELLED, RECALLED, REISSUE_PENDING)

# payment order statuses (RELEASED, SETTLED, FAILED, RECALLED, CANCELLED as above)
PENDING = "pending"
ORDER_STATUSES = (PENDING, RELEASED, SETTLED, FAILED, RECALLED, CANCELLED)

COMPONENTS = ("tsa", "child_supplement")

# anomaly kinds: a bank report refused and flagged, or a payment that should not have happened
UNKNOWN_ORDER = "unknown_order"
FOREIGN_ORDER = "foreign_order"
DUPLICATE_SETTLEMENT = "duplicate_settlement"
AMOUNT_MISMATCH = "amount_mismatch"
SETTLEMENT_OF_RECALLED = "settlement_of_recalled"
SETTLEMENT_AFTER_FAILURE = "settlement_after_failure"
FAILURE_AFTER_SETTLEMENT = "failure_after_settlement"
NOT_RELEASED = "not_released"
SETTLED_AFTER_TERMINATION = "settled_after_termination"


class PaymentRefused(Exception):
    """A request the payments rail refuses: `status` is the HTTP answer, `slug` its problem type,
    `anomaly` the kind recorded for reconciliation (None when refusing is unremarkable)."""

    def __init__(self, message: str, *, status: int = 409, slug: str = "conflict", anomaly: str | None = None) -> None:
        super().__init__(message)
        self.status, self.slug, self.anomaly = status, slug, anomaly


@dataclass(frozen=True, slots=True)
class Assignment:
    """An approved decision's amounts, waiting for a contract or scheduled."""

    decision_id: UUID
    application_id: UUID
    kind: str
    status: str
    period_quarter: str
    monthly: tuple[MonthlyAmount, ...]
    region_kato: str
    settlement: str
    bank_iban: str
    bank_code: str
    # The family, from the decision: its members read its payments. Empty for assignments made
    # before the family was kept (only case workers of the region see those).
    member_iins: tuple[str, ...] = ()
    # The social contract was terminated on this day: nothing is paid for a later month.
    terminated_on: date | None = None


@dataclass(frozen=True, slots=True)
class Payment:
    """A plan month: what the assignment pays for one month, by component."""

    id: UUID
    application_id: UUID
    decision_id: UUID
    month: str  # YYYY-MM
    tsa: int
    child_supplement: int
    total: int
    bank_iban: str
    bank_code: str
    status: str
    status_reason: str | None = None

    def amount(self, component: str) -> int:
        return self.tsa if component == "tsa" else self.child_supplement


@dataclass(frozen=True, slots=True)
class PaymentOrder:
    """One component of one plan month, to one account. A re-issue is a new order linked to the
    failed one (`reissue_of`), with the same month, component and amount."""

    id: UUID
    payment_id: UUID
    application_id: UUID
    decision_id: UUID
    month: str
    component: str
    amount: int
    bank_iban: str
    bank_code: str
    status: str
    batch_id: UUID | None = None
    reissue_of: UUID | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Batch:
    """What one release sends one bank. `checksum`: see `batch_checksum`."""

    id: UUID
    bank_code: str
    month: str
    count: int
    total: int
    checksum: str
    order_ids: tuple[UUID, ...] = ()


@dataclass(frozen=True, slots=True)
class Anomaly:
    kind: str
    bank_code: str | None
    month: str | None
    order_id: UUID | None
    amount: int | None
    detail: str


@dataclass(frozen=True, slots=True)
class Scheduling:
    """One step of an assignment: the assignment as it now stands, the plan months it creates and
    their announcement (None when it creates none)."""

    assignment: Assignment
    payments: tuple[Payment, ...] = ()
    event: PaymentScheduled | None = None


def initial_assignment_status(kind: str) -> str:
    """Conditional assistance needs a signed social contract before the first payment (rules.md 7)."""
    return AWAITING_CONTRACT if kind == "conditional" else SCHEDULED


def month_of(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def after_termination(month: str, terminated_on: date | None) -> bool:
    """Termination ends payments from the month after it (rules.md, Social contract): the
    termination month itself is paid."""
    return terminated_on is not None and month > month_of(terminated_on)


# ---- assignment --------------------------------------------------------------------------------

def assign(existing: Assignment | None, decision: EligibilityDecided, *, already_scheduled: Collection[str],
           new_id: Callable[[], UUID], contract_signed: bool = False,
           terminated_on: date | None = None) -> Scheduling | None:
    """An approval becomes an assignment, planned at once unless it waits for the contract.
    `contract_signed`: the family's signature arrived before the decision (it was parked);
    `terminated_on`: so did its termination. None for a refusal, or when the decision was
    delivered again (its assignment exists)."""
    if not decision.eligible or existing is not None:
        return None
    context = decision.application
    assignment = Assignment(
        decision_id=decision.decision_id,
        application_id=context.application_id,
        kind=decision.kind,
        status=initial_assignment_status(decision.kind),
        period_quarter=decision.period_quarter,
        monthly=tuple(decision.monthly),
        region_kato=context.region_kato,
        settlement=context.settlement,
        bank_iban=context.bank_account.iban,
        bank_code=context.bank_account.bank_code,
        member_iins=tuple(m.iin for m in decision.members),
        terminated_on=terminated_on,
    )
    if assignment.status == AWAITING_CONTRACT and not contract_signed:
        return Scheduling(assignment)
    return _schedule(replace(assignment, status=SCHEDULED), already_scheduled, new_id)


def schedule_after_signing(assignment: Assignment, *, already_scheduled: Collection[str],
                           new_id: Callable[[], UUID]) -> Scheduling | None:
    """The family signed its social contract: the waiting assignment is planned. None when it
    was not waiting (the signature was delivered again, or the assistance is unconditional)."""
    if assignment.status != AWAITING_CONTRACT:
        return None
    return _schedule(replace(assignment, status=SCHEDULED), already_scheduled, new_id)


def extend(assignment: Assignment, extension: EligibilityExtended, *, already_scheduled: Collection[str],
           new_id: Callable[[], UUID]) -> Scheduling | None:
    """A reassessment run extended the family to the next quarter (issue 12): the assignment covers
    the new quarter's months too, and each is planned once, under the extension's decision (a
    month already planned for the application is never planned again). A conditional assignment
    still waiting for its contract keeps waiting (signing plans every month). None when there is
    nothing to do: a refusal (the assignment ends with the quarter it covers) or an extension
    delivered again."""
    if not extension.eligible:
        return None
    known = {m.month for m in assignment.monthly}
    added = tuple(m for m in extension.monthly if m.month not in known)
    new_months = [m for m in extension.monthly if m.total > 0 and m.month not in already_scheduled]
    if not added and not new_months:
        return None
    extended = replace(assignment, period_quarter=extension.period_quarter, monthly=assignment.monthly + added)
    if extended.status == AWAITING_CONTRACT:
        return Scheduling(extended)
    step = _schedule(replace(extended, decision_id=extension.decision_id, monthly=tuple(extension.monthly)),
                     already_scheduled, new_id)
    return Scheduling(extended, step.payments, step.event)


def _schedule(assignment: Assignment, already_scheduled: Collection[str], new_id: Callable[[], UUID]) -> Scheduling:
    """Every month with something to pay gets one plan month, and a month already planned for
    the application never gets a second. Months after a termination already known are planned
    cancelled (they show, and are never released) and are not announced."""
    payments = tuple(
        Payment(id=new_id(), application_id=assignment.application_id, decision_id=assignment.decision_id,
                month=m.month, tsa=m.tsa, child_supplement=m.child_supplement, total=m.total,
                bank_iban=assignment.bank_iban, bank_code=assignment.bank_code,
                status=CANCELLED if after_termination(m.month, assignment.terminated_on) else PLANNED,
                status_reason="contract terminated" if after_termination(m.month, assignment.terminated_on) else None)
        for m in assignment.monthly if m.total > 0 and m.month not in already_scheduled
    )
    announced = [p for p in payments if p.status == PLANNED]
    if not announced:
        return Scheduling(assignment, payments)
    return Scheduling(assignment, payments, PaymentScheduled(
        application_id=assignment.application_id,
        decision_id=assignment.decision_id,
        region_kato=assignment.region_kato,
        settlement=assignment.settlement,
        bank_code=assignment.bank_code,
        payments=[ScheduledPayment(payment_id=p.id, month=p.month, tsa=p.tsa, child_supplement=p.child_supplement,
                                   total=p.total) for p in announced],
        total=sum(p.total for p in announced),
    ))


# ---- release -----------------------------------------------------------------------------------

def order_line(order: PaymentOrder) -> str:
    """One order as the checksum covers it: `order_id|month|component|amount|iban`."""
    return f"{order.id}|{order.month}|{order.component}|{order.amount}|{order.bank_iban}"


def batch_checksum(orders: Iterable[PaymentOrder]) -> str:
    """sha256 (lowercase hex) of the batch's order lines sorted as strings and joined by "\\n"
    (no trailing newline): a bank recomputes it from the orders it pulled."""
    return hashlib.sha256("\n".join(sorted(order_line(o) for o in orders)).encode()).hexdigest()


def group_batches(orders: Sequence[PaymentOrder], *, month: str,
                  new_id: Callable[[], UUID]) -> tuple[tuple[PaymentOrder, ...], tuple[Batch, ...]]:
    """One batch per bank (by bank code order); every order gets its batch's id and is released."""
    by_bank: dict[str, list[PaymentOrder]] = defaultdict(list)
    for order in orders:
        by_bank[order.bank_code].append(order)
    released: list[PaymentOrder] = []
    batches: list[Batch] = []
    for bank_code in sorted(by_bank):
        batch_id = new_id()
        members = [replace(o, status=RELEASED, batch_id=batch_id) for o in by_bank[bank_code]]
        released += members
        batches.append(Batch(id=batch_id, bank_code=bank_code, month=month, count=len(members),
                             total=sum(o.amount for o in members), checksum=batch_checksum(members),
                             order_ids=tuple(o.id for o in members)))
    return tuple(released), tuple(batches)


@dataclass(frozen=True, slots=True)
class Release:
    orders: tuple[PaymentOrder, ...] = ()  # new orders and released re-issues, all status released
    batches: tuple[Batch, ...] = ()
    payments: tuple[Payment, ...] = ()  # plan months now released


def release(month: str, *, planned: Iterable[Payment], ordered: Collection[tuple[UUID, str]],
            pending: Iterable[PaymentOrder], terminations: dict[UUID, date | None],
            new_id: Callable[[], UUID]) -> Release:
    """The payment run of `month`: every planned month of `month` gets one order per component
    with something to pay, unless that (plan month, component) is already ordered; every pending
    re-issue of `month` or before goes along. Releasing again makes nothing new."""
    new_orders: list[PaymentOrder] = []
    released_months: list[Payment] = []
    for plan in planned:
        if plan.month != month or plan.status != PLANNED or after_termination(
                plan.month, terminations.get(plan.application_id)):
            continue
        made = [PaymentOrder(id=new_id(), payment_id=plan.id, application_id=plan.application_id,
                             decision_id=plan.decision_id, month=plan.month, component=component,
                             amount=plan.amount(component), bank_iban=plan.bank_iban, bank_code=plan.bank_code,
                             status=PENDING)
                for component in COMPONENTS if plan.amount(component) > 0 and (plan.id, component) not in ordered]
        new_orders += made
        released_months.append(replace(plan, status=RELEASED))
    reissues = [o for o in pending if o.status == PENDING and o.month <= month
                and not after_termination(o.month, terminations.get(o.application_id))]
    orders, batches = group_batches(new_orders + reissues, month=month, new_id=new_id)
    return Release(orders, batches, tuple(released_months))


# ---- a bank's report ---------------------------------------------------------------------------

def record_bank_status(order: PaymentOrder, *, bank_code: str, status: str, amount: int | None,
                       reason: str | None) -> tuple[PaymentOrder, PaymentSettled | PaymentFailed | None]:
    """The bank reports a released order settled (with the amount it paid) or failed, once. The
    same failure again is a retried callback (no change, no event). Everything else that could
    pay an order twice, or pay what was not ordered, is refused and flagged."""
    if order.bank_code != bank_code:
        raise PaymentRefused(f"Order {order.id} is not one of bank {bank_code}'s orders.", status=403,
                             slug="not-this-banks-order", anomaly=FOREIGN_ORDER)
    if status == FAILED:
        # A failure again is a retried callback; a recalled order failing is what the recall asked
        # for: nothing was paid, nothing changes.
        if order.status in (FAILED, RECALLED, CANCELLED):
            return order, None
        if order.status != RELEASED:
            raise PaymentRefused(f"Order {order.id} is {order.status}; it cannot fail now.",
                                 slug="payment-status-final",
                                 anomaly=FAILURE_AFTER_SETTLEMENT if order.status == SETTLED else NOT_RELEASED)
        failed = replace(order, status=FAILED, reason=reason or "unspecified")
        return failed, PaymentFailed(payment_id=order.id, application_id=order.application_id, month=order.month,
                                     total=order.amount, bank_code=order.bank_code, reason=failed.reason or "")
    refusals = {
        SETTLED: ("was settled already: it is never paid twice", DUPLICATE_SETTLEMENT),
        FAILED: ("was reported failed: it is re-issued as a new order, never settled", SETTLEMENT_AFTER_FAILURE),
        RECALLED: ("was recalled (the contract was terminated): nothing is paid for it", SETTLEMENT_OF_RECALLED),
        CANCELLED: ("was cancelled (the contract was terminated): nothing is paid for it", SETTLEMENT_OF_RECALLED),
        PENDING: ("is not released yet", NOT_RELEASED),
    }
    if order.status in refusals:
        text, kind = refusals[order.status]
        raise PaymentRefused(f"Order {order.id} {text}.", slug="payment-status-final", anomaly=kind)
    if amount != order.amount:
        raise PaymentRefused(f"Order {order.id} is for {order.amount} tenge, not {amount}.", slug="amount-mismatch",
                             anomaly=AMOUNT_MISMATCH)
    settled = replace(order, status=SETTLED, reason=None)
    return settled, PaymentSettled(payment_id=order.id, application_id=order.application_id, month=order.month,
                                   total=order.amount, bank_code=order.bank_code)


# ---- re-issue ----------------------------------------------------------------------------------

def reissue(order: PaymentOrder, *, iban: str, bank_code: str, reissued_already: bool,
            terminated_on: date | None, new_id: Callable[[], UUID]) -> PaymentOrder:
    """A failed order is paid again to a corrected account: a new order, pending until the next
    release, for the same month, component and amount."""
    if order.status != FAILED:
        raise PaymentRefused(f"Order {order.id} is {order.status}: only a failed order is re-issued.",
                             slug="not-failed")
    if reissued_already:
        raise PaymentRefused(f"Order {order.id} was re-issued already.", slug="reissued-already")
    if after_termination(order.month, terminated_on):
        raise PaymentRefused(f"{order.month} is after the contract's termination: nothing is paid for it.",
                             slug="month-cancelled")
    return replace(order, id=new_id(), status=PENDING, batch_id=None, reissue_of=order.id, reason=None,
                   bank_iban=iban, bank_code=bank_code)


# ---- termination -------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Stop:
    payments: tuple[Payment, ...] = ()  # plan months changed
    orders: tuple[PaymentOrder, ...] = ()  # orders recalled or cancelled
    anomalies: tuple[Anomaly, ...] = ()


def terminate(terminated_on: date, *, payments: Iterable[Payment], orders: Iterable[PaymentOrder]) -> Stop:
    """The contract was terminated: for every month after the termination month the plan month
    is cancelled, a released order recalled (its bank may no longer settle it) and a pending
    re-issue cancelled. An order its bank settled before we learned of the termination cannot be
    unpaid: it is flagged for recovery."""
    changed_orders: list[PaymentOrder] = []
    anomalies: list[Anomaly] = []
    for order in orders:
        if not after_termination(order.month, terminated_on):
            continue
        if order.status == RELEASED:
            changed_orders.append(replace(order, status=RECALLED, reason="contract terminated"))
        elif order.status == PENDING:
            changed_orders.append(replace(order, status=CANCELLED, reason="contract terminated"))
        elif order.status == SETTLED:
            anomalies.append(Anomaly(SETTLED_AFTER_TERMINATION, order.bank_code, order.month, order.id, order.amount,
                                     f"settled before the termination of {terminated_on.isoformat()} was known"))
    changed_payments = []
    for plan in payments:
        if after_termination(plan.month, terminated_on) and plan.status not in (CANCELLED, RECALLED, SETTLED):
            status = CANCELLED if plan.status == PLANNED else RECALLED
            changed_payments.append(replace(plan, status=status, status_reason="contract terminated"))
    return Stop(tuple(changed_payments), tuple(changed_orders), tuple(anomalies))


# ---- a plan month's status from its orders -------------------------------------------------------

def live_orders(orders: Iterable[PaymentOrder]) -> list[PaymentOrder]:
    """The orders that stand for their (plan month, component): a failed order re-issued is
    replaced by its re-issue."""
    orders = list(orders)
    replaced = {o.reissue_of for o in orders if o.reissue_of is not None}
    return [o for o in orders if o.id not in replaced]


def month_status(plan: Payment, orders: Iterable[PaymentOrder]) -> tuple[str, str | None]:
    """What a family sees for a month: planned until released; then its orders' state, the
    least advanced first (a recall, a failure, a re-issue waiting, money on its way)."""
    if plan.status == CANCELLED:
        return CANCELLED, plan.status_reason
    live = live_orders(orders)
    if not live:
        return plan.status, plan.status_reason
    statuses = {o.status for o in live}
    for status, month in ((RECALLED, RECALLED), (CANCELLED, RECALLED), (FAILED, FAILED),
                          (PENDING, REISSUE_PENDING), (RELEASED, RELEASED)):
        if status in statuses:
            reason = next((o.reason for o in live if o.status == status), None)
            return month, reason
    return SETTLED, None


@dataclass
class MonthLedger:
    """Reconciliation's figures for one bank and month: counts and tenge."""

    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    tenge: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def add(self, what: str, amount: int) -> None:
        self.counts[what] += 1
        self.tenge[what] += amount


RECONCILIATION_LINES = ("ordered", "settled", "failed", "reissued", "recalled", "cancelled", "outstanding",
                        "pending_reissue")


def reconcile(orders: Iterable[PaymentOrder], cancelled_months: Iterable[Payment]) -> dict[str, MonthLedger]:
    """Per bank: `ordered` every order released to it; each ended `settled`, `failed`,
    `recalled` or is `outstanding` (released, no report yet) — so ordered = settled + failed +
    recalled + outstanding, with no unexplained difference. `reissued`: orders re-issued to this
    bank (also counted as ordered once released, `pending_reissue` until then). `cancelled`:
    plan months (and pending re-issues) stopped by a termination before anything was released."""
    ledgers: dict[str, MonthLedger] = defaultdict(MonthLedger)
    for order in orders:
        ledger = ledgers[order.bank_code]
        if order.reissue_of is not None:
            ledger.add("reissued", order.amount)
        if order.status in (PENDING, CANCELLED):
            ledger.add("pending_reissue" if order.status == PENDING else "cancelled", order.amount)
            continue
        ledger.add("ordered", order.amount)
        ledger.add("outstanding" if order.status == RELEASED else order.status, order.amount)
    for plan in cancelled_months:
        ledgers[plan.bank_code].add("cancelled", plan.total)
    return ledgers


def family_mismatches(plans: Iterable[Payment], orders: Iterable[PaymentOrder]) -> list[dict]:
    """Plan months whose settled sum differs from what is due in a way nothing explains: more
    than the decision's monthly total, anything for a cancelled month, or everything reported
    and yet not the total."""
    by_plan: dict[UUID, list[PaymentOrder]] = defaultdict(list)
    for order in orders:
        by_plan[order.payment_id].append(order)
    out = []
    for plan in plans:
        mine = by_plan.get(plan.id, [])
        settled = sum(o.amount for o in mine if o.status == SETTLED)
        due = 0 if plan.status == CANCELLED else plan.total
        live = live_orders(mine)
        finished = plan.status != CANCELLED and live and all(o.status == SETTLED for o in live)
        complete = {o.component for o in live} == {c for c in COMPONENTS if plan.amount(c) > 0}
        if settled > due or (finished and complete and settled != due):
            out.append({"application_id": plan.application_id, "month": plan.month, "due": due,
                        "settled": settled, "bank_code": plan.bank_code})
    return out
