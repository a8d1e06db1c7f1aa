"""Which families' data a caller may see, decided once from the caller in the internal token,
and the record of whose data each answer carried.

Every service that holds a family's personal data asks `family_access(caller)` and applies
what it says: to one family (`may_see`, answering 404 otherwise, so that a family's existence is
not revealed) and to lists (`filters`). Kazakhstan's personal-data law wants every read of a
person's data recorded — who, whose, when, why: a service names the people whose data an answer
carries with `note_data_subjects`; the answer takes them to the gateway in an internal header,
and the gateway records them and strips the header.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterable
from dataclasses import dataclass, field

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.errors import Forbidden
from shared.identity import Caller

DATA_SUBJECTS_HEADER = "x-qamqor-data-subjects"
_subjects: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar("data_subjects", default=None)

CITIZEN = "citizen"  # the portal acting for one citizen: that citizen's families, in full
REGIONS = "regions"  # a case worker: the families of the regions assigned to the caller, in full
MASKED = "masked"  # ops: every family, with names, IINs, birth dates and phones masked


@dataclass(frozen=True, slots=True)
class FamilyAccess:
    view: str
    citizen_iin: str | None = None
    regions: frozenset[str] = field(default_factory=frozenset)

    @property
    def masked(self) -> bool:
        return self.view == MASKED

    def may_see(self, member_iins: Iterable[str], region_kato: str) -> bool:
        if self.view == CITIZEN:
            return self.citizen_iin in set(member_iins)
        if self.view == REGIONS:
            return region_kato[:2] in self.regions
        return self.view == MASKED


def family_access(caller: Caller, *, unmaskable: str | None = None) -> FamilyAccess:
    """What `caller` may see of families; Forbidden for a caller whose job needs none.

    `unmaskable`: the data asked for has no masked form (a member's incomes, a contract's
    obligations); it says what it is, and a caller with only a masked view is refused."""
    access = _access_of(caller)
    if unmaskable and access.masked:
        raise Forbidden(f"{unmaskable}: a masked view reads statistics and masked application lists, not this.")
    return access


def _access_of(caller: Caller) -> FamilyAccess:
    if caller.kind == "portal":
        if caller.citizen_iin is None:
            raise Forbidden("The portal reads and changes a family's case only while acting for a citizen: "
                            "exchange the citizen's eGov IDP assertion for a token (POST /oauth/token, "
                            "grant_type urn:ietf:params:oauth:grant-type:token-exchange).",
                            slug="citizen-token-required", title="A citizen-bound token is required")
        return FamilyAccess(CITIZEN, citizen_iin=caller.citizen_iin)
    if caller.kind == "case_worker":
        return FamilyAccess(REGIONS, regions=caller.regions)
    if caller.kind == "ops":
        return FamilyAccess(MASKED)
    raise Forbidden(f"A {caller.kind} caller does not read families' cases.")


def note_data_subjects(iins: Iterable[str]) -> None:
    """Record that the answer being prepared carries these people's data."""
    collected = _subjects.get()
    if collected is not None:
        collected.extend(iins)


class DataSubjectsMiddleware:
    """Collects the data subjects a request's answer carries and sends them to the gateway in
    DATA_SUBJECTS_HEADER (the gateway records and strips it)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        collected: list[str] = []
        token = _subjects.set(collected)

        async def send_with_subjects(message: Message) -> None:
            if message["type"] == "http.response.start" and collected:
                subjects = ",".join(dict.fromkeys(collected))  # each person once, in order
                message["headers"] = [*message.get("headers", []),
                                      (DATA_SUBJECTS_HEADER.encode(), subjects.encode("ascii", "replace"))]
            await send(message)

        try:
            await self.app(scope, receive, send_with_subjects)
        finally:
            _subjects.reset(token)


def mask_name(full_name: str) -> str:
    """`Aigul Serikovna` → `A. S.`: enough for ops to tell families apart, not to identify."""
    return " ".join(part[0] + "." for part in full_name.split() if part)


def mask_phone(phone: str | None) -> str | None:
    """`+77011234567` → `+7701*****67`."""
    if not phone:
        return phone
    return phone[:5] + "*" * max(len(phone) - 7, 0) + phone[-2:]
