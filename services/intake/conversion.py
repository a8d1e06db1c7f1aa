"""Conversion of FDC invitations (docs/fdc.md): an application that contains an invited person,
submitted within the invitation's window, is linked to the invitation — in the submission's own
transaction, so an application is never left unlinked by a crash. The link is announced
(`fdc.invitation.converted`, through the outbox in that transaction) for reporting's funnel."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.intake import invitations
from services.intake.domain import Application
from services.intake.models import Invitation, InvitedMember
from shared.events.contracts import FdcInvitationConverted
from shared.outbox import emit


async def link_application(session: AsyncSession, application: Application) -> Invitation | None:
    """The invitation the new application converts (the latest open one of its members whose
    window it falls in), now linked to it; None if it converts none."""
    iins = [m.iin for m in application.members]
    rows = (await session.execute(
        select(Invitation).join(InvitedMember, InvitedMember.invitation_id == Invitation.id)
        .where(InvitedMember.iin.in_(iins), Invitation.application_id.is_(None))
        .order_by(Invitation.created_at.desc()).with_for_update(of=Invitation))).scalars().unique().all()
    found = next((row for row in rows if invitations.converts(
        invited_at=row.created_at, expires_on=row.expires_on, submitted_at=application.submitted_at)), None)
    if found is None:
        return None
    await session.execute(update(Invitation).where(Invitation.id == found.id).values(
        application_id=application.id, applied_at=application.submitted_at, status=invitations.STATUS_APPLIED))
    await emit(session, FdcInvitationConverted(
        invitation_id=found.id, application_id=application.id, quarter=found.quarter, region_kato=found.region_kato,
        channel=found.channel, applied_at=application.submitted_at), source="intake", key=str(found.id),
        correlation_id=str(application.id))
    return found
