"""Social contracts (Social Code arts. 122, 128; seeds 001/003). Pure Python: a contract's states
and the rules that move it between them; the service loads, calls these, saves and emits.

Each able-bodied member who is not employed gets an employment-promotion measure; employed
members undertake to stay employed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from uuid import UUID

from shared.events.contracts import ContractDrafted, ContractSigned, EligibilityDecided, Obligation

DRAFTED = "drafted"
SIGNED = "signed"
TERMINATED = "terminated"

STAY_EMPLOYED = "stay_employed"
JOB_PLACEMENT = "job_placement"


class ContractNotSignable(Exception):
    """Only a drafted contract can be signed."""


class NotTheApplicant(Exception):
    """Only the family's applicant signs its social contract (another member may read it)."""


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


def initial_obligations(decision: EligibilityDecided) -> tuple[Obligation, ...]:
    """The obligation each member the contract binds takes on at signing. Who is able-bodied is
    eligibility's decision (`able_bodied_iins`); job placement is the default measure, which a
    case worker may change to public works, training or an entrepreneurship grant."""
    employed = {m.iin: m.employed for m in decision.members}
    return tuple(
        Obligation(iin=iin, measure=STAY_EMPLOYED if employed.get(iin, False) else JOB_PLACEMENT)
        for iin in decision.able_bodied_iins
    )


def draft(existing: SocialContract | None, decision: EligibilityDecided, *, contract_id: UUID,
          at: datetime) -> tuple[SocialContract, ContractDrafted] | None:
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
        applicant_iin=next((m.iin for m in decision.members if m.relation == "applicant"), None),
        member_iins=tuple(m.iin for m in decision.members),
    )
    return contract, ContractDrafted(
        contract_id=contract.id, application_id=contract.application_id,
        decision_id=contract.decision_id, obligations=list(contract.obligations),
    )


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
    signed = replace(contract, status=SIGNED, signed_at=at, signed_by=citizen_iin, signed_via=portal)
    return signed, ContractSigned(
        contract_id=signed.id, application_id=signed.application_id,
        decision_id=signed.decision_id, signed_at=at,
    )
