"""The consumer runner: every event handled at most once in effect.

For each batch of a partition's messages: insert their ids into the inbox and run the handlers
(consecutive events of a handler with a batch form as one list) in ONE transaction; commit the
Kafka offset only after that transaction commits (the offsets of every partition together, at
most every `commit_interval`, and before a rebalance takes a partition away). A redelivered
event finds its id in the inbox and has no second effect. A failing handler is retried with
backoff; after the last attempt the event goes to the dead-letter topic (through the outbox,
with the error) and is marked in the inbox, so the partition is not blocked for ever. A message
that is not an event at all goes there too, as where it is. An operator's replay of a dead
letter takes effect once.

An idle consumer rests: aiokafka's fetcher sends the next fetch as soon as the last one comes
back, and relies on the broker to hold an empty fetch for `fetch.max.wait.ms`. Apache Kafka does;
the local broker (noida-db) answers at once, which made every idle consumer send thousands of
fetches a second. `pace_fetches` makes the wait the client's own (see `FetchBackoff`).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import orjson
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError
from pydantic import ValidationError
from sqlalchemy import func, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.backoff import retry_delay
from shared.errors import temporarily_unavailable
from shared.events import Envelope
from shared.iin import mask_iins_in
from shared.kafka import broker_reachable
from shared.observability import CONSUMER_LAG, EVENTS_CONSUMED, request_id_var
from shared.outbox import inbox
from shared.redrive import REPLAY_HEADER, UNDECODABLE, dead_letter, dead_letter_undecodable
from shared.tracing import consume_span

log = logging.getLogger("qamqor.consumer")

Handler = Callable[[AsyncSession, Envelope], Awaitable[None]]
BatchHandler = Callable[[AsyncSession, list[Envelope]], Awaitable[None]]


def handles_batches(batch: BatchHandler) -> Callable[[Handler], Handler]:
    """Give a handler a batch form: consecutive events of a batch that this handler takes are
    handed to `batch` as one list, in their order, in the batch's transaction. A burst of one
    event type (a reassessment run's hundreds of thousands of `eligibility.extended`) then costs a
    few statements per batch instead of a few per event. `batch` must have the effect of the
    handler applied to each event in turn; the handler itself stays the per-event path, which
    handles the events one by one when a batch fails (and in every retry and replay)."""
    def mark(handler: Handler) -> Handler:
        handler.batch = batch  # type: ignore[attr-defined]
        return handler
    return mark


def batch_form(handler: Handler | None) -> BatchHandler | None:
    return getattr(handler, "batch", None)


class PermanentError(Exception):
    """A handler failure that retrying cannot fix: goes straight to the dead-letter topic."""


class ConsumerStalled(RuntimeError):
    """The Kafka client cannot consume again by itself: the service's supervisor builds a new one."""


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

    `first` is 10 ms: at 1 ms, a consumer whose events come 100 ms apart sent about twenty empty
    fetches between two of them (each a request, a response and its decoding: 15 % of a consumer's
    CPU under load, bench/pipeline); at 10 ms about nine, for at most 10 ms more per hop.
    """

    def __init__(self, *, first: float = 0.01, ratio: float = 0.25, cap: float = 0.1,
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
    on_response: Callable[[], None] = lambda: None,
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
        on_response()
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


def failure_text(exc: BaseException) -> str:
    """Why a handler failed, for the dead-letter headers an operator reads: a validation error
    names the fields, never the values (a member's name or IIN); any other text is IIN-masked."""
    if isinstance(exc, ValidationError):
        fields = [{"loc": list(e["loc"]), "type": e["type"], "msg": e["msg"]}
                  for e in exc.errors(include_input=False, include_url=False, include_context=False)]
        return f"ValidationError: {orjson.dumps(fields).decode()}"
    return mask_iins_in(f"{type(exc).__name__}: {exc}")


@dataclass(slots=True)
class Delivery:
    """One message of a poll as the runner handles it: decoded, with its handler, or why not."""

    message: ConsumerRecord
    envelope: Envelope | None = None
    handler: Handler | None = None
    undecodable: str | None = None  # why the message is not an event

    @property
    def replay(self) -> bool:
        return any(k == REPLAY_HEADER for k, _ in self.message.headers or ())

    def header(self, name: str) -> str | None:
        return next((v.decode("latin-1") for k, v in (self.message.headers or ()) if k == name), None)


# Built once: executed with a batch's rows (SQLAlchemy sends them as one multi-row INSERT), where a
# statement with the rows in its VALUES would be compiled anew for every batch size (200 µs of CPU
# per event against 27: bench/pipeline/inbox_insert.py, docs/benchmarks.md).
_INBOX_INSERT = (insert(inbox).on_conflict_do_nothing(index_elements=[inbox.c.event_id])
                 .returning(inbox.c.event_id))


class _RewindOnAssign(ConsumerRebalanceListener):
    def __init__(self, runner: "ConsumerRunner") -> None:
        self.runner = runner

    async def on_partitions_revoked(self, revoked: Collection[TopicPartition]) -> None:
        await self.runner.commit_pending(revoked)

    async def on_partitions_assigned(self, assigned: Collection[TopicPartition]) -> None:
        if self.runner.rewind_on_assign:
            await self.runner.rewind(assigned)


class ConsumerRunner:
    """Consumes a service's topics: each partition's messages are handled in batches, one
    database transaction per batch (an inbox row for each event, its handler's effects, its
    events in the outbox), and the partitions are handled in parallel lanes, at most `lanes`
    at a time, beside the API. A partition whose lane is at work is not fetched from, so its next
    messages wait for the batch before them: one application's events (one key, one partition) are
    handled in the order they were published. A batch that fails is rolled back and handled
    again one event per transaction, each retried and dead-lettered on its own — a poison event
    costs its batch one rollback, never another event's effect.

    A handler with a batch form (`handles_batches`) is handed consecutive events of the batch as
    one list (a burst of one event type: a reassessment run's extensions); the events before and
    after it keep their order. Failing, the batch is handled one event at a time as any other,
    with the plain handler.

    A message carrying `x-qamqor-replay` (an operator replayed a dead letter) is handled once
    more if this service had dead-lettered it, and ignored if it had handled it.
    """

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
        batch_size: int = 200,
        lanes: int = 4,
        rewind_on_assign: int = 500,
        stall_seconds: float = 15.0,
        commit_interval: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
        reachable: Callable[[str], Awaitable[bool]] = broker_reachable,
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
        self.batch_size = batch_size
        self.lanes = asyncio.Semaphore(lanes)
        self.rewind_on_assign = rewind_on_assign
        self.stall_seconds = stall_seconds
        self.clock = clock
        self.reachable = reachable
        self._no_coordinator_since: float | None = None
        self._next_probe = 0.0
        # The last sign that the client works: a fetch came back, or a lane finished a batch
        # (None: fetches are not seen, see pace_fetches).
        self._alive_at: float | None = None
        self.consumer: AIOKafkaConsumer | None = None
        self._commit_lock = asyncio.Lock()
        self._committed: dict[TopicPartition, int] = {}
        # Offsets whose batches are committed in the database, to be committed to Kafka together
        # at most every `commit_interval` (one OffsetCommit per batch was 4-5 % of a consumer's
        # CPU under load, and held the partition's next fetch): a crash before then delivers
        # them again, and the inbox makes the repeat harmless, as after any crash.
        self.commit_interval = commit_interval
        self._pending: dict[TopicPartition, int] = {}
        self._next_commit = 0.0

    async def start(self) -> None:
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=f"qamqor-{self.service}",
            client_id=f"qamqor-{self.service}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=self.batch_size,
            # Static membership (KIP-345): a process restarted after a crash takes its place
            # in the group at once instead of waiting for the dead member's session to expire.
            group_instance_id=self.instance_id,
            session_timeout_ms=10_000,
            heartbeat_interval_ms=2_000,
        )
        self.consumer.subscribe(self.topics, listener=_RewindOnAssign(self))
        await self.consumer.start()
        if pace_fetches(self.consumer, self.fetch_backoff, self.idle_sleep, on_response=self._alive):
            self._alive()

    def _alive(self) -> None:
        self._alive_at = self.clock()

    async def rewind(self, partitions: Collection[TopicPartition]) -> None:
        """Each partition newly assigned is read again from `rewind_on_assign` messages before
        its committed offset (the inbox makes the repeats harmless). A broker that lost writes it
        had acknowledged (an unclean leader election; the local broker's last second on a
        SIGKILL) may hand the lost offsets to new events, which a consumer whose committed offset
        is past them would otherwise never see."""
        consumer = self.consumer
        assert consumer is not None
        for tp in partitions:
            try:
                # Bounded: this runs inside aiokafka's rebalance, which waits for it; a broker that
                # goes away again now would otherwise hold the group's join for good.
                async with asyncio.timeout(self.stall_seconds):
                    committed = await consumer.committed(tp)
            except (TimeoutError, KafkaError):
                log.warning("the committed offset of %s could not be read; not read again from before it", tp,
                            exc_info=True)
                continue
            if committed:
                consumer.seek(tp, max(0, committed - self.rewind_on_assign))

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
        """Fetch, and hand each partition's messages to a lane; returns only by cancellation, or
        raises what a lane raised (the service's supervisor starts the consumer again)."""
        assert self.consumer is not None, "start() first"
        consumer = self.consumer
        working: dict[TopicPartition, asyncio.Task] = {}
        try:
            while True:
                # Only from the partitions no lane is at work on: a working partition's next
                # messages wait in the fetcher for the batch before them. (Pausing it instead
                # would make aiokafka drop what it had fetched past the batch and fetch it again,
                # from a broker serving every group: a burst was read several times over, 200
                # messages a batch out of fetches of up to 1 MiB a partition.)
                idle = [tp for tp in consumer.assignment() if tp not in working]
                if idle or not working:
                    # While lanes work, fetch briefly, so a finished lane's partition is fetched again soon.
                    batches = await consumer.getmany(*idle, timeout_ms=50 if working else 500,
                                                     max_records=self.batch_size)
                else:
                    batches = {}
                    await asyncio.wait(list(working.values()), timeout=0.5, return_when=asyncio.FIRST_COMPLETED)
                for tp, messages in batches.items():
                    if messages:
                        working[tp] = asyncio.create_task(self._lane(tp, messages))
                for tp, task in list(working.items()):
                    if task.done():
                        del working[tp]
                        task.result()  # a lane that raised stops the consumer; the supervisor restarts it
                if self._pending and self.clock() >= self._next_commit:
                    await self.commit_pending()
                self._measure_lag()
                await self.watch(working=bool(working))
        finally:
            for task in working.values():
                task.cancel()
            await asyncio.gather(*working.values(), return_exceptions=True)
            # what was handled, before leaving: briefly (a client being rebuilt may not answer)
            await self.commit_pending(timeout=2.0)

    async def _lane(self, tp: TopicPartition, messages: list[ConsumerRecord]) -> None:
        async with self.lanes:
            handled = await self.handle_batch(messages)
        self._alive()
        if handled is not None:
            self._pending[tp] = handled + 1
        if handled != messages[-1].offset:
            # Not even dead-lettered (the database is away): from the first one not handled, again.
            self.consumer.seek(tp, messages[0].offset if handled is None else handled + 1)  # type: ignore[union-attr]

    async def watch(self, *, working: bool = False) -> None:
        """Raise `ConsumerStalled` when, for `stall_seconds` while the broker accepts connections,
        the client has had no group coordinator, or no fetch has come back and no lane is at work
        (`working`). After a broker restart aiokafka can hang for good (seen with the local broker:
        in its coordinator lookup, or in a rejoin — no heartbeat, no fetch, the process otherwise
        healthy); a new client joins at once. While the broker itself is away nothing is rebuilt:
        the client reconnects when it returns."""
        coordinator = getattr(self.consumer, "_coordinator", None)
        now = self.clock()
        if self._alive_at is not None and (working or self._joined_without_partitions()):
            self._alive_at = now  # at work, or a member with nothing to fetch (more members than partitions)
        if coordinator is None or getattr(coordinator, "coordinator_id", None) is not None:
            self._no_coordinator_since = None
        elif self._no_coordinator_since is None:
            self._no_coordinator_since = now
        stuck = []
        if self._no_coordinator_since is not None and now - self._no_coordinator_since >= self.stall_seconds:
            stuck.append(f"no group coordinator for {now - self._no_coordinator_since:.0f} s")
        if self._alive_at is not None and now - self._alive_at >= self.stall_seconds:
            stuck.append(f"no fetch answered for {now - self._alive_at:.0f} s")
        if not stuck or now < self._next_probe:
            return
        self._next_probe = now + 1.0
        if await self.reachable(self.bootstrap):
            raise ConsumerStalled(", ".join(stuck) + " while the broker answers")

    def _joined_without_partitions(self) -> bool:
        subscription = getattr(getattr(self.consumer, "_subscription", None), "subscription", None)
        assignment = getattr(subscription, "assignment", None)
        return assignment is not None and not assignment.tps

    async def commit_pending(self, partitions: Collection[TopicPartition] | None = None, *,
                             timeout: float | None = None) -> None:
        """Commit to Kafka, in one request, the offsets handled since the last commit (of
        `partitions` only, when given: those a rebalance takes away), waiting at most `timeout`
        (`stall_seconds` by default)."""
        offsets = {tp: offset for tp, offset in self._pending.items() if partitions is None or tp in partitions}
        if not offsets or self.consumer is None:
            return
        if partitions is None:
            self._next_commit = self.clock() + self.commit_interval
        for tp in offsets:
            del self._pending[tp]
        async with self._commit_lock:
            try:
                # Bounded: aiokafka retries a commit until the coordinator answers.
                async with asyncio.timeout(self.stall_seconds if timeout is None else timeout):
                    await self.consumer.commit(offsets)
                self._committed.update(offsets)
            except (CommitFailedError, KafkaError, IllegalStateError, TimeoutError):
                # The partitions moved to another member, or the coordinator is away: the messages
                # are delivered again later and the inbox makes the repeat harmless.
                log.warning("offset commit failed for %s", sorted(offsets), exc_info=True)

    def _measure_lag(self) -> None:
        consumer = self.consumer
        for tp in consumer.assignment():  # type: ignore[union-attr]
            highwater = consumer.highwater(tp)  # type: ignore[union-attr]
            committed = self._committed.get(tp)
            if highwater is not None and committed is not None:
                CONSUMER_LAG.labels(self.service, tp.topic, str(tp.partition)).set(max(0, highwater - committed))

    # ---- one batch ----------------------------------------------------------------------------

    def decode(self, message: ConsumerRecord) -> Delivery:
        try:
            envelope = Envelope.model_validate(orjson.loads(message.value))
        except (ValidationError, orjson.JSONDecodeError) as exc:
            return Delivery(message, undecodable=failure_text(exc))
        return Delivery(message, envelope, self.handlers.get(envelope.type))

    async def handle_batch(self, messages: list[ConsumerRecord]) -> int | None:
        """Handle one partition's messages, in order; returns the offset of the last one done
        with (handled, duplicate, ignored or dead-lettered), None when not even the first."""
        deliveries = [self.decode(message) for message in messages]
        if await self._in_one_transaction(deliveries):
            return messages[-1].offset
        last = None
        for delivery in deliveries:
            if not await self.process(delivery):
                break
            last = delivery.message.offset
        return last

    async def _in_one_transaction(self, deliveries: list[Delivery]) -> bool:
        """The whole batch in one transaction; False (nothing kept) if anything in it fails or
        a message must be dead-lettered — then each is handled on its own."""
        events = [d for d in deliveries if d.handler is not None]
        if any(d.undecodable for d in deliveries):
            return False
        if not events:
            return True
        outcomes: list[tuple[str, str]] = []
        try:
            async with self.sessionmaker() as session, session.begin():
                first_time = await self._mark_inbox(session, events)
                group: list[Delivery] = []  # consecutive events for one batch form, not handled yet
                for delivery in events:
                    envelope = delivery.envelope
                    assert envelope is not None and delivery.handler is not None
                    if envelope.id not in first_time:
                        outcomes.append((envelope.type, "duplicate"))
                        continue
                    first_time.discard(envelope.id)  # the same event twice in one batch: once
                    batch = batch_form(delivery.handler)
                    if group and batch is not batch_form(group[0].handler):
                        await self._handle_group(session, group, outcomes)
                        group = []
                    if batch is not None:
                        group.append(delivery)
                        continue
                    with self._context(delivery):
                        await delivery.handler(session, envelope)
                    outcomes.append((envelope.type, "handled"))
                if group:
                    await self._handle_group(session, group, outcomes)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the batch is handled again, event by event
            log.info("a batch of %d event(s) failed (%s); handling them one by one", len(events), type(exc).__name__)
            return False
        for event_type, outcome in outcomes:
            EVENTS_CONSUMED.labels(self.service, event_type, outcome).inc()
        return True

    async def _handle_group(self, session: AsyncSession, group: list[Delivery],
                            outcomes: list[tuple[str, str]]) -> None:
        """Consecutive events for one batch form, as one list. They run under the first one's
        request id and trace: a burst comes from one run, written under one request."""
        batch = batch_form(group[0].handler)
        assert batch is not None
        envelopes = [d.envelope for d in group if d.envelope is not None]
        with self._context(group[0]):
            await batch(session, envelopes)
        outcomes.extend((e.type, "handled") for e in envelopes)

    @contextmanager
    def _context(self, delivery: Delivery) -> Iterator[None]:
        envelope = delivery.envelope
        assert envelope is not None
        token = request_id_var.set(delivery.header("x-request-id") or envelope.correlation_id or str(envelope.id))
        try:
            # The event's handling is a CONSUMER span in the trace its producer started (off by default).
            with consume_span(self.service, delivery.message.topic, envelope.type, delivery.message.headers,
                              key=envelope.key, event_id=envelope.id):
                yield
        finally:
            request_id_var.reset(token)

    async def process(self, delivery: Delivery) -> bool:
        """Handle one message in its own transaction, retried; True when it is done with
        (handled, duplicate, ignored or dead-lettered) and its offset may be committed."""
        message = delivery.message
        if delivery.undecodable is not None:
            log.error("undecodable message at %s/%s@%s", message.topic, message.partition, message.offset)
            return await self._dead_letter_undecodable(message, delivery.undecodable)
        envelope, handler = delivery.envelope, delivery.handler
        if envelope is None or handler is None:
            return True
        with self._context(delivery):
            attempt = outage = 0
            while True:
                try:
                    outcome = await self._handle_once(delivery)
                    EVENTS_CONSUMED.labels(self.service, envelope.type, outcome).inc()
                    return True
                except (PermanentError, ValidationError) as exc:
                    return await self._dead_letter(message, envelope, failure_text(exc))
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - every failure is retried, then dead-lettered
                    if temporarily_unavailable(exc):
                        # The database is away (restarting, unreachable): no event can be handled,
                        # and none is at fault. Waited out, holding the partition; never dead-lettered.
                        outage += 1
                        delay = retry_delay(outage, first=self.backoff_seconds, cap=5.0)
                        log.warning("database unavailable (%s); the event waits %.1fs", type(exc).__name__, delay,
                                    extra={"event_id": envelope.id, "event_type": envelope.type})
                        await asyncio.sleep(delay)
                        continue
                    attempt += 1
                    if attempt >= self.max_attempts:
                        log.exception("handler failed %d times; dead-lettering", attempt,
                                      extra={"event_id": envelope.id, "event_type": envelope.type})
                        return await self._dead_letter(message, envelope, failure_text(exc))
                    delay = min(self.backoff_seconds * 2 ** (attempt - 1), 10.0)
                    log.warning("handler failed (attempt %d), retrying in %.1fs: %r", attempt, delay, exc,
                                extra={"event_id": envelope.id, "event_type": envelope.type})
                    await asyncio.sleep(delay)

    async def _handle_once(self, delivery: Delivery) -> str:
        envelope, handler = delivery.envelope, delivery.handler
        assert envelope is not None and handler is not None
        async with self.sessionmaker() as session, session.begin():
            if not await self._mark_inbox(session, [delivery]):
                log.info("duplicate delivery ignored", extra={"event_id": envelope.id, "event_type": envelope.type})
                return "duplicate"
            await handler(session, envelope)
        return "handled"

    @staticmethod
    async def _mark_inbox(session: AsyncSession, deliveries: list[Delivery]) -> set[uuid.UUID]:
        """Note the events in the inbox; returns the ids to handle: those seen for the first
        time, and replays of events this service had dead-lettered (their row now says handled)."""
        rows = {d.envelope.id: d for d in deliveries if d.envelope is not None}
        inserted = await session.execute(_INBOX_INSERT, [
            {"event_id": e.id, "event_type": e.type, "source": e.source, "key": e.key, "topic": d.message.topic,
             "partition": d.message.partition, "offset": d.message.offset, "outcome": "handled"}
            for d in rows.values() if (e := d.envelope) is not None])
        fresh = set(inserted.scalars())
        replays = [event_id for event_id, d in rows.items() if d.replay and event_id not in fresh]
        if replays:
            revived = await session.execute(
                update(inbox)
                .where(inbox.c.event_id.in_(replays), inbox.c.outcome == "dead_lettered")
                .values(outcome="handled", processed_at=func.now())
                .returning(inbox.c.event_id))
            fresh |= set(revived.scalars())
        return fresh

    async def _dead_letter(self, message: ConsumerRecord, envelope: Envelope, error: str) -> bool:
        try:
            async with self.sessionmaker() as session, session.begin():
                await dead_letter(session, envelope, failed_in=self.service, original_topic=message.topic, error=error)
            EVENTS_CONSUMED.labels(self.service, envelope.type, "dead_lettered").inc()
            return True
        except Exception:  # noqa: BLE001
            log.exception("could not dead-letter event %s", envelope.id)
            await asyncio.sleep(1.0)
            return False

    async def _dead_letter_undecodable(self, message: ConsumerRecord, error: str) -> bool:
        """A message that is not an event goes to the dead-letter topic as where it is (never its
        bytes, which may hold personal data), once."""
        try:
            async with self.sessionmaker() as session, session.begin():
                await dead_letter_undecodable(session, failed_in=self.service, topic=message.topic,
                                              partition=message.partition, offset=message.offset, error=error)
            EVENTS_CONSUMED.labels(self.service, UNDECODABLE, "dead_lettered").inc()
            return True
        except Exception:  # noqa: BLE001
            log.exception("could not dead-letter the undecodable message at %s/%s@%s",
                          message.topic, message.partition, message.offset)
            await asyncio.sleep(1.0)
            return False
