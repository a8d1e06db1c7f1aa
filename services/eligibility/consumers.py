"""What eligibility reacts to: verified evidence (an event), and parameter changes (the cache's
signal), each running one use case in its own unit of work."""


from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.eligibility import service
from services.eligibility.adapters import ParameterCache
from shared.wakeups import wait_for_wakeup
from shared.events.contracts import TOPICS
from shared.redrive import redrive_handler

# qamqor.intake: the reconciliation sweep's re-drive requests and withdrawals (the register's
# assignment ends); qamqor.contracts: terminations, which bar the family from a new assignment
# (art. 128), and every contract's state, which the register keeps (issue 12).
SUBSCRIBE = (TOPICS["verification"], TOPICS["intake"], TOPICS["contracts"])


def handlers(app: FastAPI) -> dict:
    async def on_verification_completed(session, envelope):  # noqa: ANN001
        await service.decide_on_evidence(session=session, envelope=envelope, cache=app.state.parameters)

    return {"verification.completed": on_verification_completed,
            # the register follows each family's contract (issue 12); a termination also bars it
            "contract.drafted": service.follow_contract,
            "contract.signed": service.follow_contract,
            "contract.lapsed": service.follow_contract,
            "contract.completed": service.follow_contract,
            "contract.terminated": service.follow_contract,
            "application.withdrawn": service.end_on_withdrawal,
            "reconciliation.requested": redrive_handler(service.SOURCE)}


async def retry_pending_decisions(*, sessionmaker: async_sessionmaker[AsyncSession], cache: ParameterCache,
                                  interval: float = 60.0) -> None:
    """Runs for the life of the process: whenever parameters change (and at least every
    `interval` seconds), try again to decide the applications that were waiting."""
    while True:
        await wait_for_wakeup(cache.changed, interval)
        cache.changed.clear()
        async with sessionmaker() as session, session.begin():
            await service.decide_pending(session=session, cache=cache)
