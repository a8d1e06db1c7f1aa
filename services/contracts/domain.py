"""Social contracts (Social Code arts. 122, 128; seeds 001/003). Pure Python: a contract's states
and the rules that move it between them; the service loads, calls these, saves and emits.

Each able-bodied member who is not employed gets an employment-promotion measure; employed
members undertake to stay employed.

    drafted ──the applicant signs, before `sign_by`──▶ signed ──the period ends──▶ completed
       │                                                  │
       └──`sign_by` passes unsigned (the sweep)──▶ lapsed  └──a refusal of measures, at once; or
                                                              non-fulfilment, a case worker decides──▶ terminated

`lapsed`, `terminated` and `completed` are final. A terminated contract bars every member of the
family from a new assignment for `ban_months` (eligibility counts it from `terminated_on`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from uuid import UUID

from shared.business_days import BusinessCalendar
from shared.calendar import ALMATY, Quarter
from shared.parameter_replica import ParameterValue, parameter_value  # noqa: F401 (contracts' replica)
from shared.events.contracts import (
    ContractCompleted,
    ContractDrafted,
    ContractLapsed,
    ContractSigned,
    ContractTerminated,
    EligibilityDecided,
    Obligation,
)

DRAFTED = "drafted"
SIGNED = "signed"
LAPSED = "lapsed"
TERMINATED = "terminated"
COMPLETED = "completed"
STATUSES = (DRAFTED, SIGNED, LAPSED, TERMINATED, COMPLETED)

# The applicant signs within this many business days (Asia/Almaty, Kazakhstan's holidays) after
# the contract is drafted: the policy parameter eligibility owns, of which contracts keeps a replica
# (`parameter.recorded`); the service's setting of the same value applies only while the replica
# has no value for the day.
SIGN_DEADLINE_PARAMETER = "contract_sign_business_days"
DEFAULT_SIGN_BUSINESS_DAYS = 10


def sign_business_days(values: tuple[ParameterValue, ...] | list[ParameterValue], region_kato: str,
                       on: date) -> int | None:
    """`contract_sign_business_days` for `region_kato` on `on`, as eligibility applies parameters:
    the most specific level wins (the KATO code, its region, national), within a level the value
    recorded last among those valid on the day. None when no value is valid (or it is no whole
    number of days from 1)."""
    value = parameter_value(values, SIGN_DEADLINE_PARAMETER, region_kato, on)
    try:
        days = Decimal(value) if isinstance(value, str) else None
    except InvalidOperation:
        days = None
    return int(days) if days is not None and days == days.to_integral_value() and days >= 1 else None

# Employment-promotion measures (art. 122; seed 003). `stay_employed` is the undertaking of a
# member employed when the contract is drafted; the others are offered to the members who are not.
STAY_EMPLOYED = "stay_employed"
JOB_PLACEMENT = "job_placement"
PUBLIC_WORKS = "public_works"
TEMPORARY_EMPLOYMENT = "temporary_employment"
TRAINING = "training"
ENTREPRENEURSHIP_GRANT = "entrepreneurship_grant"
ACTIVE_MEASURES = (JOB_PLACEMENT, PUBLIC_WORKS, TEMPORARY_EMPLOYMENT, TRAINING, ENTREPRENEURSHIP_GRANT)
MEASURES = (*ACTIVE_MEASURES, STAY_EMPLOYED)

# A measure's progress. `completed` and `refused` are final; a refusal terminates the contract.
OFFERED = "offered"
ACCEPTED = "accepted"
IN_PROGRESS = "in_progress"
MEASURE_COMPLETED = "completed"
REFUSED = "refused"
MEASURE_STATUSES = (OFFERED, ACCEPTED, IN_PROGRESS, MEASURE_COMPLETED, REFUSED)
# Where a measure may go from each status; a status to itself adds a dated note on the progress.
MEASURE_MOVES: dict[str, frozenset[str]] = {
    OFFERED: frozenset({OFFERED, ACCEPTED, REFUSED}),
    ACCEPTED: frozenset({ACCEPTED, IN_PROGRESS, MEASURE_COMPLETED, REFUSED}),
    IN_PROGRESS: frozenset({IN_PROGRESS, MEASURE_COMPLETED, REFUSED}),
    MEASURE_COMPLETED: frozenset(),
    REFUSED: frozenset(),
}

# The outcome categories seed 003 reports, and which measure can lead to each.
PERMANENT_JOB = "permanent_job"
TEMPORARY_JOB = "temporary_job"
GRANT = "grant"
TRAINING_COMPLETED = "training_completed"
OUTCOMES = (PERMANENT_JOB, TEMPORARY_JOB, GRANT, TRAINING_COMPLETED)
OUTCOMES_OF: dict[str, frozenset[str]] = {
    JOB_PLACEMENT: frozenset({PERMANENT_JOB, TEMPORARY_JOB}),
    PUBLIC_WORKS: frozenset({TEMPORARY_JOB}),
    TEMPORARY_EMPLOYMENT: frozenset({TEMPORARY_JOB, PERMANENT_JOB}),
    TRAINING: frozenset({TRAINING_COMPLETED}),
    ENTREPRENEURSHIP_GRANT: frozenset({GRANT}),
    STAY_EMPLOYED: frozenset({PERMANENT_JOB}),
}

# Breaches through the recipient's fault (art. 128).
REFUSED_MEASURES = "refused_measures"
NON_FULFILMENT = "non_fulfilment"
BREACH_KINDS = (REFUSED_MEASURES, NON_FULFILMENT)


class ContractNotSignable(Exception):
    """Only a drafted contract can be signed, before its deadline."""


class NotTheApplicant(Exception):
    """Only the family's applicant signs its social contract (another member may read it)."""


class ContractNotActive(Exception):
    """Measures and breaches belong to a signed contract that has not ended."""


class Refused(Exception):
    """A change the rules refuse; `field` names the input at fault (for a 422 naming it)."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name


class MeasureNotFound(LookupError):
    pass


class MeasureClosed(Exception):
    """A completed or refused measure does not move again."""


class AlreadyTerminated(Exception):
    """A contract is terminated once."""


@dataclass(frozen=True, slots=True)
class Note:
    """One dated step of a measure: the status it moved to on `on`, and what the case worker wrote."""

    on: date
    status: str
    note: str
    at: datetime  # when it was recorded
    by: str  # the case worker (caller id)


@dataclass(frozen=True, slots=True)
class Measure:
    id: UUID
    member_iin: str
    measure: str
    status: str
    notes: tuple[Note, ...]
    outcome: str | None = None


@dataclass(frozen=True, slots=True)
class Breach:
    id: UUID
    member_iin: str
    kind: str
    occurred_on: date
    evidence: str
    recorded_at: datetime
    recorded_by: str
    measure_id: UUID | None = None  # the measure refused, when the breach is a measure PATCHed to refused


@dataclass(frozen=True, slots=True)
class SocialContract:
    id: UUID
    application_id: UUID
    decision_id: UUID
    status: str
    region_kato: str
    period_quarter: str
    obligations: tuple[Obligation, ...]
    drafted_at: datetime
    # The family, from the decision: who may read the contract (its members) and sign it (its
    # applicant). Empty for contracts drafted before the family was kept: only case workers see those.
    applicant_iin: str | None = None
    member_iins: tuple[str, ...] = ()
    signed_at: datetime | None = None
    signed_by: str | None = None  # the citizen (IIN) who signed
    signed_via: str | None = None  # the portal that relayed the signature
    # Unsigned at this instant, the contract lapses (None for contracts drafted before issue 11:
    # they never lapse by themselves).
    sign_by: datetime | None = None
    ends_on: date | None = None  # the last day of the assignment period
    measures: tuple[Measure, ...] = ()
    breaches: tuple[Breach, ...] = ()
    lapsed_at: datetime | None = None
    terminated_on: date | None = None
    termination_breach_id: UUID | None = None
    termination_reason: str | None = None
    completed_on: date | None = None

    @property
    def bound_iins(self) -> tuple[str, ...]:
        """The members the contract binds: the able-bodied, each with an obligation."""
        return tuple(o.iin for o in self.obligations)

    def obligation_of(self, iin: str) -> Obligation | None:
        return next((o for o in self.obligations if o.iin == iin), None)

    def measure(self, measure_id: UUID) -> Measure:
        found = next((m for m in self.measures if m.id == measure_id), None)
        if found is None:
            raise MeasureNotFound(f"The contract has no measure {measure_id}.")
        return found

    def breach(self, breach_id: UUID) -> Breach | None:
        return next((b for b in self.breaches if b.id == breach_id), None)


def initial_obligations(decision: EligibilityDecided) -> tuple[Obligation, ...]:
    """The obligation each member the contract binds takes on at signing. Who is able-bodied is
    eligibility's decision (`able_bodied_iins`); job placement is the default measure, which a
    case worker may change to public works, training or an entrepreneurship grant."""
    employed = {m.iin: m.employed for m in decision.members}
    return tuple(
        Obligation(iin=iin, measure=STAY_EMPLOYED if employed.get(iin, False) else JOB_PLACEMENT)
        for iin in decision.able_bodied_iins
    )


def period_end(period_quarter: str) -> date:
    """The last day of the assignment period: the assignment runs to the end of its quarter
    (rules.md 5), and so does the contract signed for it."""
    return Quarter.parse(period_quarter).last_day


def draft(existing: SocialContract | None, decision: EligibilityDecided, *, contract_id: UUID,
          at: datetime, sign_business_days: int = DEFAULT_SIGN_BUSINESS_DAYS,
          calendar: BusinessCalendar | None = None) -> tuple[SocialContract, ContractDrafted] | None:
    """A conditional approval needs a signed social contract before the first payment (rules.md 7).
    None when there is nothing to draft: not a conditional approval, or the application already
    has its contract (the decision was delivered again)."""
    if not (decision.eligible and decision.kind == "conditional") or existing is not None:
        return None
    contract = SocialContract(
        id=contract_id,
        application_id=decision.application.application_id,
        decision_id=decision.decision_id,
        status=DRAFTED,
        region_kato=decision.application.region_kato,
        period_quarter=decision.period_quarter,
        obligations=initial_obligations(decision),
        drafted_at=at,
        sign_by=(calendar or BusinessCalendar()).deadline(at, business_days=sign_business_days),
        ends_on=period_end(decision.period_quarter),
        applicant_iin=next((m.iin for m in decision.members if m.relation == "applicant"), None),
        member_iins=tuple(m.iin for m in decision.members),
    )
    return contract, ContractDrafted(
        contract_id=contract.id, application_id=contract.application_id,
        decision_id=contract.decision_id, obligations=list(contract.obligations),
    )


def carry_over(contract: SocialContract | None, period_quarter: str) -> SocialContract | None:
    """A reassessment run extended the family with its contract in force (issue 12): the signed
    contract runs on to the end of the new quarter — no new contract is drafted, nothing is signed
    again. None when there is nothing to carry over: no contract, one not signed (lapsed,
    terminated, completed, still a draft), or already carried to that quarter (delivered again)."""
    if contract is None or contract.status != SIGNED:
        return None
    if Quarter.parse(contract.period_quarter) >= Quarter.parse(period_quarter):
        return None
    return replace(contract, period_quarter=period_quarter, ends_on=period_end(period_quarter))


def sign(contract: SocialContract, citizen_iin: str, portal: str,
         at: datetime) -> tuple[SocialContract, ContractSigned | None]:
    """The family's applicant signs, through `portal`. Signing a signed contract again is a retry,
    not a second signature: the contract is unchanged and nothing is announced."""
    if citizen_iin != contract.applicant_iin:
        raise NotTheApplicant("The social contract is signed by the family's applicant; this citizen is "
                              "another member of the family.")
    if contract.status == SIGNED:
        return contract, None
    if contract.status != DRAFTED:
        raise ContractNotSignable(f"A contract in status '{contract.status}' cannot be signed.")
    if contract.sign_by is not None and at >= contract.sign_by:
        raise ContractNotSignable(f"The deadline to sign passed at {contract.sign_by.isoformat()}: the contract "
                                  "lapses and the family may apply again.")
    signed = replace(contract, status=SIGNED, signed_at=at, signed_by=citizen_iin, signed_via=portal)
    return signed, ContractSigned(
        contract_id=signed.id, application_id=signed.application_id,
        decision_id=signed.decision_id, signed_at=at,
    )


def almaty_date(at: datetime) -> date:
    return at.astimezone(ALMATY).date()


def lapse(contract: SocialContract, now: datetime) -> tuple[SocialContract, ContractLapsed] | None:
    """A drafted contract still unsigned at its deadline lapses (None: not due, or not drafted)."""
    if contract.status != DRAFTED or contract.sign_by is None or now < contract.sign_by:
        return None
    lapsed = replace(contract, status=LAPSED, lapsed_at=now)
    return lapsed, ContractLapsed(contract_id=lapsed.id, application_id=lapsed.application_id, lapsed_at=now)


def complete(contract: SocialContract, now: datetime) -> tuple[SocialContract, ContractCompleted] | None:
    """A signed contract ends `completed` once its period is over (the day after `ends_on`, in
    Almaty). None: not due, or not signed."""
    if contract.status != SIGNED or contract.ends_on is None or almaty_date(now) <= contract.ends_on:
        return None
    completed = replace(contract, status=COMPLETED, completed_on=contract.ends_on)
    return completed, ContractCompleted(contract_id=completed.id, application_id=completed.application_id,
                                        completed_on=contract.ends_on)


def _require_active(contract: SocialContract) -> None:
    if contract.status != SIGNED:
        raise ContractNotActive(f"The contract is {contract.status}: measures and breaches are recorded on a "
                                "signed contract that has not ended.")


def _check_day(contract: SocialContract, field_name: str, day: date, at: datetime) -> None:
    """A day something happened under the contract: not before it was signed, not after today, not
    after its period."""
    signed_on = almaty_date(contract.signed_at) if contract.signed_at else None
    if signed_on is not None and day < signed_on:
        raise Refused(field_name, f"before the contract was signed ({signed_on.isoformat()})")
    if day > almaty_date(at):
        raise Refused(field_name, "in the future")
    if contract.ends_on is not None and day > contract.ends_on:
        raise Refused(field_name, f"after the contract's period ended ({contract.ends_on.isoformat()})")


def _bound_member(contract: SocialContract, member_iin: str) -> Obligation:
    obligation = contract.obligation_of(member_iin)
    if obligation is None:
        raise Refused("member_iin", "not an able-bodied member the contract binds (its obligations name the members "
                                    "measures are for)")
    return obligation


def add_measure(contract: SocialContract, *, measure_id: UUID, member_iin: str, measure: str, note: str,
                at: datetime, by: str) -> tuple[SocialContract, Measure]:
    """A case worker offers a member a measure. `stay_employed` is the undertaking of a member
    employed when the contract was drafted; the other members get the active measures."""
    _require_active(contract)
    obligation = _bound_member(contract, member_iin)
    if measure not in MEASURES:
        raise Refused("measure", f"not one of {', '.join(MEASURES)}")
    if (measure == STAY_EMPLOYED) != (obligation.measure == STAY_EMPLOYED):
        raise Refused("measure", "stay_employed is for the members employed when the contract was drafted, the "
                                 "active measures for the others" if measure == STAY_EMPLOYED else
                                 "this member undertook to stay employed: their measure is stay_employed")
    offered = Measure(id=measure_id, member_iin=member_iin, measure=measure, status=OFFERED,
                      notes=(Note(on=almaty_date(at), status=OFFERED, note=note, at=at, by=by),))
    return replace(contract, measures=contract.measures + (offered,)), offered


def update_measure(contract: SocialContract, measure_id: UUID, *, status: str, note: str, on: date,
                   outcome: str | None, at: datetime, by: str, breach_id: UUID
                   ) -> tuple[SocialContract, Measure, ContractTerminated | None]:
    """A measure moves on (or gets a dated note in its status). A refusal is a breach through the
    recipient's fault that terminates the contract at once, on the day of the refusal."""
    _require_active(contract)
    current = contract.measure(measure_id)
    if not MEASURE_MOVES[current.status]:
        raise MeasureClosed(f"The measure is {current.status}: it does not move again.")
    if status not in MEASURE_MOVES[current.status]:
        raise Refused("status", f"a measure {current.status} moves to "
                                f"{', '.join(sorted(MEASURE_MOVES[current.status]))}, not {status}")
    if current.notes and on < current.notes[-1].on:
        raise Refused("on", f"before the measure's last note ({current.notes[-1].on.isoformat()}): notes are "
                            "kept in the order of their days")
    _check_day(contract, "on", on, at)
    if outcome is not None and status != MEASURE_COMPLETED:
        raise Refused("outcome", "only a completed measure has an outcome")
    if outcome is not None and outcome not in OUTCOMES_OF[current.measure]:
        raise Refused("outcome", f"a {current.measure} measure leads to "
                                 f"{', '.join(sorted(OUTCOMES_OF[current.measure]))}")
    moved = replace(current, status=status, outcome=outcome,
                    notes=current.notes + (Note(on=on, status=status, note=note, at=at, by=by),))
    contract = replace(contract, measures=tuple(moved if m.id == measure_id else m for m in contract.measures))
    if status != REFUSED:
        return contract, moved, None
    breach = Breach(id=breach_id, member_iin=current.member_iin, kind=REFUSED_MEASURES, occurred_on=on,
                    evidence=note, recorded_at=at, recorded_by=by, measure_id=measure_id)
    contract, event = _terminate(replace(contract, breaches=contract.breaches + (breach,)), breach, on)
    return contract, moved, event


def record_breach(contract: SocialContract, *, breach_id: UUID, member_iin: str, kind: str, occurred_on: date,
                  evidence: str, at: datetime, by: str) -> tuple[SocialContract, Breach, ContractTerminated | None]:
    """A breach through the recipient's fault (art. 128). A refusal of measures terminates the
    contract at once, on the day it occurred; non-fulfilment waits for a case worker's decision."""
    _require_active(contract)
    _bound_member(contract, member_iin)
    if kind not in BREACH_KINDS:
        raise Refused("kind", f"not one of {', '.join(BREACH_KINDS)}")
    _check_day(contract, "occurred_on", occurred_on, at)
    breach = Breach(id=breach_id, member_iin=member_iin, kind=kind, occurred_on=occurred_on, evidence=evidence,
                    recorded_at=at, recorded_by=by)
    contract = replace(contract, breaches=contract.breaches + (breach,))
    if kind != REFUSED_MEASURES:
        return contract, breach, None
    contract, event = _terminate(contract, breach, occurred_on)
    return contract, breach, event


def terminate(contract: SocialContract, *, breach_id: UUID, terminated_on: date,
              at: datetime) -> tuple[SocialContract, ContractTerminated | None]:
    """A case worker terminates the contract for a recorded breach. The same decision sent again
    is a retry (nothing changes, nothing is announced); a contract is terminated once."""
    if contract.status == TERMINATED:
        if contract.termination_breach_id == breach_id and contract.terminated_on == terminated_on:
            return contract, None
        raise AlreadyTerminated(f"The contract was terminated on {contract.terminated_on}.")
    _require_active(contract)
    breach = contract.breach(breach_id)
    if breach is None:
        raise Refused("breach_id", "not a breach recorded on this contract")
    if terminated_on < breach.occurred_on:
        raise Refused("terminated_on", f"before the breach occurred ({breach.occurred_on.isoformat()})")
    _check_day(contract, "terminated_on", terminated_on, at)
    return _terminate(contract, breach, terminated_on)


def _terminate(contract: SocialContract, breach: Breach, on: date) -> tuple[SocialContract, ContractTerminated]:
    terminated = replace(contract, status=TERMINATED, terminated_on=on, termination_breach_id=breach.id,
                         termination_reason=breach.kind)
    # The whole family is barred, not only the member at fault (rules.md, Social contract).
    family = terminated.member_iins or terminated.bound_iins
    return terminated, ContractTerminated(contract_id=terminated.id, application_id=terminated.application_id,
                                          terminated_on=on, reason=breach.kind,  # type: ignore[arg-type]
                                          member_iins=list(family))


# ---- the contract's text, in the state languages ---------------------------------------------

_OBLIGATION_TEXT = {
    "kk": {
        JOB_PLACEMENT: "ЖСН {iin} отбасы мүшесі халықты жұмыспен қамту орталығында есепке тұруға және ұсынылған "
                       "жұмысқа орналасуға жәрдемді қабылдауға міндеттенеді.",
        PUBLIC_WORKS: "ЖСН {iin} отбасы мүшесі жұмыспен қамту орталығы жолдаған қоғамдық жұмыстарға қатысуға "
                      "міндеттенеді.",
        TEMPORARY_EMPLOYMENT: "ЖСН {iin} отбасы мүшесі ұсынылған уақытша жұмысқа (әлеуметтік жұмыс орындары, "
                              "жастар практикасы) орналасуға міндеттенеді.",
        TRAINING: "ЖСН {iin} отбасы мүшесі жұмыспен қамту орталығының жолдамасы бойынша кәсіптік оқудан немесе "
                  "қайта даярлаудан өтуге міндеттенеді.",
        ENTREPRENEURSHIP_GRANT: "ЖСН {iin} отбасы мүшесі кәсіпкерлік негіздеріне оқудан өтуге және грант алған "
                                "жобасын іске асыруға міндеттенеді.",
        STAY_EMPLOYED: "ЖСН {iin} отбасы мүшесі келісімшарттың бүкіл мерзімі ішінде жұмыспен қамтылуын сақтауға "
                       "міндеттенеді.",
    },
    "ru": {
        JOB_PLACEMENT: "Член семьи с ИИН {iin} обязуется встать на учёт в центре трудоустройства населения и "
                       "принять предложенное содействие в трудоустройстве.",
        PUBLIC_WORKS: "Член семьи с ИИН {iin} обязуется участвовать в общественных работах, на которые его "
                      "направит центр трудоустройства населения.",
        TEMPORARY_EMPLOYMENT: "Член семьи с ИИН {iin} обязуется принять предложенное временное трудоустройство "
                              "(социальные рабочие места, молодёжная практика).",
        TRAINING: "Член семьи с ИИН {iin} обязуется пройти профессиональное обучение или переподготовку по "
                  "направлению центра трудоустройства населения.",
        ENTREPRENEURSHIP_GRANT: "Член семьи с ИИН {iin} обязуется пройти обучение основам предпринимательства и "
                                "реализовать проект, на который получит грант.",
        STAY_EMPLOYED: "Член семьи с ИИН {iin} обязуется сохранять трудовую занятость в течение всего срока "
                       "контракта.",
    },
}
_HEADING = {
    "kk": "Адрестік әлеуметтік көмек көрсету туралы әлеуметтік келісімшарт, кезеңі {quarter} ({ends_on} дейін). "
          "Өтініш беруші: ЖСН {applicant}. Отбасы мынадай міндеттемелерді орындауға міндеттенеді:",
    "ru": "Социальный контракт о предоставлении адресной социальной помощи на период {quarter} (по {ends_on}). "
          "Заявитель: ИИН {applicant}. Семья обязуется выполнить следующие обязательства:",
}
_CLOSING = {
    "kk": "Жұмыспен қамтуға жәрдемдесу шараларынан бас тарту немесе алушының кінәсінен міндеттемелерді орындамау "
          "келісімшартты бұзуға, келесі айдан бастап бүкіл отбасына төлемдерді тоқтатуға және алты ай бойы көмекті "
          "жаңадан тағайындауға тыйым салуға әкеп соғады (Қазақстан Республикасы Әлеуметтік кодексінің 128-бабы).",
    "ru": "Отказ от мер содействия занятости или невыполнение обязательств по вине получателя влечёт расторжение "
          "контракта, прекращение выплат всей семье со следующего месяца и запрет на новое назначение помощи в "
          "течение шести месяцев (статья 128 Социального кодекса Республики Казахстан).",
}
LANGUAGES = ("kk", "ru")


def contract_text(contract: SocialContract) -> dict[str, str]:
    """The contract as the family reads and signs it, in Kazakh and Russian: a heading, one
    numbered sentence per member's obligation, and what a breach costs."""
    ends_on = (contract.ends_on or period_end(contract.period_quarter)).strftime("%d.%m.%Y")
    text = {}
    for language in LANGUAGES:
        lines = [_HEADING[language].format(quarter=contract.period_quarter, ends_on=ends_on,
                                           applicant=contract.applicant_iin or "—")]
        lines += [f"{n}. " + _OBLIGATION_TEXT[language].get(o.measure, _OBLIGATION_TEXT[language][JOB_PLACEMENT])
                  .format(iin=o.iin) for n, o in enumerate(contract.obligations, start=1)]
        lines.append(_CLOSING[language])
        text[language] = "\n".join(lines)
    return text
