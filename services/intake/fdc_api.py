"""The FDC routes (issue 13; docs/fdc.md): invitations, the portal notice, the funnel."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from services.intake import fdc
from services.intake.fdc_schemas import (
    FunnelOut,
    InvitationBatchIn,
    InvitationBatchOut,
    PortalInvitationOut,
    fdc_problems,
)
from shared.calendar import Quarter, business_date
from shared.errors import Forbidden
from shared.identity import INTERNAL_TOKEN_HEADER
from shared.service import CallerDep, RequireScope, SessionDep

router = APIRouter(prefix="/v1")


async def _fdc_inviter(caller: CallerDep) -> None:
    if caller.kind != "fdc":
        raise Forbidden("Invitations are sent by the Family Digital Card.", slug="fdc-only",
                        title="Only a Family Development Centre invites families")


async def _portal_citizen(caller: CallerDep) -> str:
    if caller.kind != "portal" or not caller.citizen_iin:
        raise Forbidden("A citizen's invitations are read by the portal acting for the citizen.", slug="portal-only",
                        title="Only the portal reads a citizen's invitations")
    return caller.citizen_iin


def _checker(request: Request) -> fdc.PreChecker:
    return request.app.state.fdc_prechecker


@router.post("/fdc/invitations", response_model=InvitationBatchOut, tags=["fdc"],
             dependencies=[Depends(RequireScope("fdc:invite")), Depends(_fdc_inviter)],
             responses=fdc_problems("malformed-json", "fdc-missing-scope", "fdc-invite-only", "unsupported-media-type",
                                    "invalid-batch"),
             summary="Invite a batch of families the Family Digital Card flags",
             description="Up to 1,000 families (category D, E or low income). Each is answered in the order "
                         "sent: `invited` (likely eligible on the income registry's incomes of the assessment "
                         "quarter: an SMS and a portal notice follow), `not_likely_eligible` with the rules' reason "
                         "codes, `already_applying_or_receiving`, `already_invited` (a member was invited this "
                         "quarter), `invalid` with each field named, or `not_checked` (a system could not answer; "
                         "send the family again). One family's problem never fails the batch.")
async def post_invitations(body: InvitationBatchIn, request: Request, session: SessionDep,
                           caller: CallerDep) -> InvitationBatchOut:
    answer = await fdc.invite(session=session, checker=_checker(request), settings=request.app.state.settings,
                              caller_id=caller.id, internal_token=request.headers.get(INTERNAL_TOKEN_HEADER, ""),
                              families=body.families)
    return InvitationBatchOut.model_validate(answer)


@router.get("/fdc/invitations", response_model=list[PortalInvitationOut], tags=["fdc"],
            dependencies=[Depends(RequireScope("applications:read"))],
            responses=fdc_problems("missing-scope", "portal-citizen-only", "control-character"),
            summary="The FDC invitations of the citizen the portal acts for (the portal notice)",
            description="The latest first, each with its notice in Kazakh and Russian and the link to apply.")
async def get_invitations(request: Request, session: SessionDep,
                          citizen: Annotated[str, Depends(_portal_citizen)]) -> list[PortalInvitationOut]:
    rows = await fdc.portal_invitations(session=session, iin=citizen, link=request.app.state.settings.invitation_link)
    return [PortalInvitationOut.model_validate(row) for row in rows]


@router.get("/fdc/funnel", response_model=FunnelOut, tags=["fdc"],
            dependencies=[Depends(RequireScope("stats:read"))],
            responses=fdc_problems("stats-missing-scope", "invalid-funnel-query", "control-character"),
            summary="The FDC funnel: invited → applied → approved → paid, per region and channel",
            description="Counts only, of the invitations made in `quarter` (default: the current one). `region`: "
                        "a KATO code; its first two digits name the region.")
async def get_funnel(
    session: SessionDep,
    quarter: Annotated[str | None, Query(pattern=r"^\d{4}-Q[1-4]$")] = None,
    region: Annotated[str | None, Query(pattern=r"^\d{9}$")] = None,
) -> FunnelOut:
    quarter = quarter or str(Quarter.of(business_date()))
    rows = await fdc.funnel(session=session, quarter=quarter, region=region)
    totals = {k: sum(r[k] for r in rows) for k in ("invited", "applied", "approved", "paid")}
    return FunnelOut.model_validate({"quarter": quarter, "region": region, "rows": rows, "totals": totals})
