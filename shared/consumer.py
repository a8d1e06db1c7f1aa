"""The consumer runner: every event handled at most once in effect.

For each message: insert its id into the inbox and run the handler in ONE transaction; commit
the Kafka offset only after that transaction commits. A redelivered event finds its id in the
inbox and has no second effect. A failing handler is retried with backoff; after the last
attempt the event goes to the dead-letter topic (through the outbox, with the error) and is
marked in the inbox, so the partition is not blocked for ever.

An idle consumer rests: aiokafka's fetcher sends the next fetch as soon as the last one comes
back, and relies on the broker to hold an empty fetch for `fetch.max.wait.ms`. Apache Kafka does;
the local broker (noida-db) answers at once, which made every idle consumer send thousands of
fetches a second. `pace_fetches` makes the wait the client's own (see `FetchBackoff`).
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import time
from collections.abc import Awaitable, Callable, Iterator

import orjson
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError
from pydantic import ValidationError
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.events import Envelope
from shared.iin import mask_iins_in
from shared.events.contracts import DEAD_LETTER_TOPIC
from shared.observability import EVENTS_CONSUMED, request_id_var
from shared.outbox import inbox, record_event
from shared.tracing import consume_span

log = logging.getLogger("qamqor.consumer")

Handler = Callable[[AsyncSession, Envelope], Awaitable[None]]


class PermanentError(Exception):
    """A handler failure that retrying cannot fix: goes straight to the dead-letter topic."""


class FetchBackoff:
    """How long a consumer waits before its next fetch from one broker, given how the last went.

    A fetch that brings records is followed at once by the next, so a busy consumer never waits.
    After an empty fetch the next one is due `interval` after the empty one was *sent*, where the
    interval is `ratio` times how long the consumer has gone without records, at least `first`
    and at most `cap`: an event that arrives while the consumer rests waits at most `cap`, and one
    that arrives shortly after the last waits a small fraction of that gap. A broker that holds an
    empty fetch for fetch.max.wait.ms (Apache Kafka; aiokafka asks for 500 ms) has used the interval up by the
    time it answers, so nothing is added there; a broker that answers at once (noida-db) gets at
    most one fetch per interval.
    """

    def __init__(self, *, first: float = 0.001, ratio: float = 0.25, cap: float = 0.1,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.first = first
        self.ratio = ratio
        self.cap = cap
        self.clock = clock
        self._last_records_at = clock()
        self._sent_at = self._last_records_at

    def fetch_sent(self) -> None:
        self._sent_at = self.clock()

    def pause_after(self, *, had_records: bool) -> float:
        """Seconds to wait before the next fetch, now that the last one has come back."""
        now = self.clock()
        if had_records:
            self._last_records_at = now
            return 0.0
        interval = min(self.cap, max(self.first, self.ratio * (now - self._last_records_at)))
        return max(0.0, interval - (now - self._sent_at))


def pace_fetches(
    consumer: AIOKafkaConsumer,
    backoff: Callable[[], FetchBackoff] = FetchBackoff,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> bool:
    """Make a started consumer's fetcher wait after empty fetches, as `FetchBackoff` decides.

    aiokafka has no public hook for this: its Fetcher runs a background task that sends one
    fetch per broker node through `_proc_fetch_request` and sends no other fetch to that node
    until it returns (the node is "in flight"). Waiting at the end of that coroutine therefore
    spaces the fetches, and nothing else about fetching changes (positions, rebalances, errors,
    records kept while the partition is consumed). Returns False, and leaves the consumer as it
    is, if a future aiokafka no longer has that coroutine; tests/integration/test_fetch_pacing.py
    fails then.
    """
    fetcher = getattr(consumer, "_fetcher", None)
    fetch = getattr(fetcher, "_proc_fetch_request", None)
    if fetch is None:
        log.warning("this aiokafka has no Fetcher._proc_fetch_request; idle fetches are not paced")
        return False
    per_node: dict[int, FetchBackoff] = {}

    async def paced_fetch(assignment, node_id, request):  # noqa: ANN001, ANN202 - aiokafka's signature
        node = per_node.setdefault(node_id, backoff())
        node.fetch_sent()
        had_records = await fetch(assignment, node_id, request)
        pause = node.pause_after(had_records=bool(had_records))
        if pause > 0:
            try:
                await sleep(pause)
            except asyncio.CancelledError:
                # The fetcher cancels fetches on a rebalance and at close, and expects them to
                # end quietly, as its own coroutine does.
                return False
        return had_records

    fetcher._proc_fetch_request = paced_fetch  # type: ignore[union-attr]
    return True


def in_event_order(batches: dict[TopicPartition, list[ConsumerRecord]]) -> Iterator[ConsumerRecord]:
    """The messages of one poll in the order they were published, across partitions and topics,
    each partition's own order kept. A consumer that rests between fetches often gets an
    application's `verified` and `decided` events (two topics) in one poll; handling them as
    they happened keeps its status moves in order."""
    return heapq.merge(*batches.values(), key=lambda message: message.timestamp)


def failure_text(exc: BaseException) -> str:
    """Why a handler failed, for the dead-letter headers an operator reads: a validation error
    names the fields, never the values (a member's name or IIN); any other text is IIN-masked."""
    if isinstance(exc, ValidationError):
        fields = [{"loc": list(e["loc"]), "type": e["type"], "msg": e["msg"]}
                  for e in exc.errors(include_input=False, include_url=False, include_context=False)]
        return f"ValidationError: {orjson.dumps(fields).decode()}"
    return mask_iins_in(f"{type(exc).__name__}: {exc}")


class ConsumerRunner:
    def __init__(
        self,
        *,
        service: str,
        bootstrap: str,
        topics: tuple[str, ...],
        handlers: dict[str, Handler],
        sessionmaker: async_sessionmaker[AsyncSession],
        max_attempts: int = 5,
        backoff_seconds: float = 0.2,
        instance_id: str | None = None,
        fetch_backoff: Callable[[], FetchBackoff] = FetchBackoff,
        idle_sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.service = service
        self.bootstrap = bootstrap
        self.topics = topics
        self.handlers = handlers
        self.sessionmaker = sessionmaker
        self.max_attempts = max_attempts
        self.backoff_seconds = backoff_seconds
        self.instance_id = instance_id
        self.fetch_backoff = fetch_backoff
        self.idle_sleep = idle_sleep
        self.consumer: AIOKafkaConsumer | None = None

    async def start(self) -> None:
        self.consumer = AIOKafkaConsumer(
            *self.topics,
            bootstrap_servers=self.bootstrap,
            group_id=f"qamqor-{self.service}",
            client_id=f"qamqor-{self.service}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=200,
            # Static membership (KIP-345): a process restarted after a crash takes its place
            # in the group at once instead of waiting for the dead member's session to expire.
            group_instance_id=self.instance_id,
            session_timeout_ms=10_000,
            heartbeat_interval_ms=2_000,
        )
        await self.consumer.start()
        pace_fetches(self.consumer, self.fetch_backoff, self.idle_sleep)

    async def stop(self, *, timeout: float = 10.0) -> None:
        """Leave the group and close, but never hang a shutdown: a consumer stopped while its
        JoinGroup is pending waits for the broker to answer it, and a broker holds a JoinGroup
        until every known member rejoins (up to the rebalance timeout, minutes) — the local
        broker never forgets a member that stopped without leaving, as static members do. After
        `timeout` the join is abandoned and the connections closed."""
        consumer = self.consumer
        if consumer is None:
            return
        try:
            async with asyncio.timeout(timeout):
                await consumer.stop()
            return
        except TimeoutError:
            log.warning("the consumer did not leave its group within %.0f s; closing its connections", timeout)
        # aiokafka has no public way to abandon a pending join: finish what stop() left undone.
        coordinator, fetcher, client = (getattr(consumer, name, None) for name in ("_coordinator", "_fetcher", "_client"))
        for task_name in ("_coordination_task", "_heartbeat_task", "_commit_refresh_task"):
            task = getattr(coordinator, task_name, None)
            if isinstance(task, asyncio.Task) and not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        for part in (fetcher, client):
            if part is not None:
                try:
                    await part.close()
                except Exception:  # noqa: BLE001 - closing what is left, best effort
                    log.warning("closing the consumer's %s failed", type(part).__name__, exc_info=True)

    async def run(self) -> None:
        assert self.consumer is not None, "start() first"
        consumer = self.consumer
        while True:
            batches = await consumer.getmany(timeout_ms=500, max_records=200)
            done: dict[TopicPartition, int] = {}
            held: set[TopicPartition] = set()
            for message in in_event_order(batches):
                tp = TopicPartition(message.topic, message.partition)
                if tp in held:
                    continue
                if not await self.process(message):
                    consumer.seek(tp, message.offset)  # could not even dead-letter: try again later
                    held.add(tp)
                    continue
                done[tp] = message.offset
            if done:
                try:
                    await consumer.commit({tp: offset + 1 for tp, offset in done.items()})
                except (CommitFailedError, KafkaError):
                    # Partitions moved to another member; it will redeliver and the inbox
                    # makes the repeat harmless.
                    log.warning("offset commit failed for %s", sorted(done), exc_info=True)

    async def process(self, message: ConsumerRecord) -> bool:
        """Handle one message; True when it is done with (handled, duplicate, ignored or
        dead-lettered) and its offset may be committed."""
        try:
            envelope = Envelope.model_validate(orjson.loads(message.value))
        except (ValidationError, orjson.JSONDecodeError) as exc:
            log.error("undecodable message at %s/%s@%s", message.topic, message.partition, message.offset)
            return await self._dead_letter_raw(message, failure_text(exc))
        handler = self.handlers.get(envelope.type)
        if handler is None:
            return True
        carried = next((v.decode("latin-1") for k, v in (message.headers or ()) if k == "x-request-id"), None)
        token = request_id_var.set(carried or envelope.correlation_id or str(envelope.id))
        try:
            with consume_span(self.service, message.topic, envelope.type, message.headers,  # tracing (issue 9.6)
                              key=envelope.key, event_id=envelope.id):
                for attempt in range(1, self.max_attempts + 1):
                    try:
                        outcome = await self._handle_once(message, envelope, handler)
                        EVENTS_CONSUMED.labels(self.service, envelope.type, outcome).inc()
                        return True
                    except (PermanentError, ValidationError) as exc:
                        return await self._dead_letter(message, envelope, failure_text(exc))
                    except asyncio.CancelledError:
                        raise
                    except Exception as exc:  # noqa: BLE001 - every failure is retried, then dead-lettered
                        if attempt == self.max_attempts:
                            log.exception("handler failed %d times; dead-lettering", attempt,
                                          extra={"event_id": envelope.id, "event_type": envelope.type})
                            return await self._dead_letter(message, envelope, failure_text(exc))
                        delay = min(self.backoff_seconds * 2 ** (attempt - 1), 10.0)
                        log.warning("handler failed (attempt %d), retrying in %.1fs: %r", attempt, delay, exc,
                                    extra={"event_id": envelope.id, "event_type": envelope.type})
                        await asyncio.sleep(delay)
                return False
        finally:
            request_id_var.reset(token)

    async def _handle_once(self, message: ConsumerRecord, envelope: Envelope, handler: Handler) -> str:
        async with self.sessionmaker() as session, session.begin():
            first_time = await self._mark_inbox(session, message, envelope, "handled")
            if not first_time:
                log.info("duplicate delivery ignored", extra={"event_id": envelope.id, "event_type": envelope.type})
                return "duplicate"
            await handler(session, envelope)
        return "handled"

    @staticmethod
    async def _mark_inbox(session: AsyncSession, message: ConsumerRecord, envelope: Envelope, outcome: str) -> bool:
        result = await session.execute(
            insert(inbox)
            .values(
                event_id=envelope.id,
                event_type=envelope.type,
                source=envelope.source,
                key=envelope.key,
                topic=message.topic,
                partition=message.partition,
                offset=message.offset,
                outcome=outcome,
            )
            .on_conflict_do_nothing(index_elements=[inbox.c.event_id])
            .returning(inbox.c.event_id)
        )
        return result.first() is not None

    async def _dead_letter(self, message: ConsumerRecord, envelope: Envelope, error: str) -> bool:
        try:
            async with self.sessionmaker() as session, session.begin():
                if not await self._mark_inbox(session, message, envelope, "dead_lettered"):
                    return True
                await record_event(
                    session, DEAD_LETTER_TOPIC, envelope,
                    headers={"error": error[:2000], "failed_in": self.service,
                             "original_topic": message.topic},
                )
            EVENTS_CONSUMED.labels(self.service, envelope.type, "dead_lettered").inc()
            return True
        except Exception:  # noqa: BLE001
            log.exception("could not dead-letter event %s", envelope.id)
            await asyncio.sleep(1.0)
            return False

    async def _dead_letter_raw(self, message: ConsumerRecord, error: str) -> bool:
        # An undecodable message has no envelope id; it is logged and skipped.
        EVENTS_CONSUMED.labels(self.service, "undecodable", "dead_lettered").inc()
        return True
