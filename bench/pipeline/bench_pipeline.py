"""The pipeline under load, as a citizen sees it: submit through the gateway, then the decision
visible at `GET /v1/applications/{id}`.

    uv run python bench/pipeline/bench_pipeline.py --rate 50 --duration 60      # open loop, 50/s
    uv run python bench/pipeline/bench_pipeline.py --clients 32 --duration 300  # closed loop, max rate
    uv run python bench/pipeline/bench_pipeline.py --rate 50 --duration 60 --watch db  # exact, no polls
    uv run --with py-spy python bench/pipeline/bench_pipeline.py --rate 20 --duration 60 \
        --py-spy /tmp/prof --py-spy-args=--gil && uv run python bench/pipeline/top_frames.py /tmp/prof

The platform: by default the script starts its own, exactly as `make run` does
(`qamqor_cli.platform.start_platform`: separate uvicorn processes, the machine's PostgreSQL, the
noida-db broker), on free ports, with its own state dir and databases (`qamqor_bench<pid>_*`,
dropped afterwards), the gateway's rate limits raised (as the e2e tests do) and citizen tokens
living 15 minutes (the longest the gateway allows). `--attach` uses a running platform instead
(`qamqor up`, ports from `--url` and the default layout shifted by the same offset, credentials
from `--callers`); its rate limits and token lifetimes are its own, and a token that expires is
exchanged again on the spot (counted).

Families come from the sandbox's synthetic population with the outcome known in advance
(`bench/pipeline/families.py`): by default 40 % unconditional, 40 % conditional (able-bodied
adults: a social contract), 20 % rejected. Each family's applicant signs in at eGov IDP (the
sandbox plays it) and the portal exchanges the assertion for a token acting for them (RFC 8693) —
all BEFORE the measured run, so the load measures the platform and not token exchange.

Load: `--rate R` submits on a fixed schedule (open loop: a slow platform does not slow the
arrivals; latency counts from the scheduled moment), `--clients N` keeps N submissions in flight
(closed loop: the most the platform takes; families and tokens are prepared for `--expect-rate`
per second, 150 by default — the run ends early, and says so, if they run out). After
`--duration` the script stops submitting and waits up to `--drain` seconds for the rest.

When is the decision visible to the citizen? `--watch api` (the default) polls
`GET /v1/applications/{id}` as the citizen until `decision` is set, on a schedule that stays
cheap: every `--poll-step` seconds up to `--poll-fine-until` after submission, then about 25 %
later each time (one poller task for all pending applications, at most `--poll-concurrency` polls
in flight). The polls are load on the platform, as a portal's are. `--watch db` instead asks
intake's database once every `--db-interval` (0.1 s) which of the pending applications have their
decision committed — the moment the citizen's GET would return it — at no cost to the API, and
reads each application back from there after the drain.

It prints: submissions/s; decisions visible/s (during the window, and from the first submission
to the last decision); latency percentiles of the submission and of submit → decision visible
(an upper bound: the first look that saw it; the look before had not); the stages from the
application's timeline, which holds each event with its own time (the service's clock, on the
same machine): submitted → verified (verification) → decided (eligibility) → visible (the look);
for a sample, the stored decision's `decided_at`; whether every decision is the one expected;
the CPU each process used during the window (utime+stime from /proc/<pid>/stat, the broker with
its children, the PostgreSQL backends of this platform's databases together, this load generator)
and the load average; and the CPU per decided application above idle, from the start of the
window to the end of the drain (each process's idle rate is measured for `--settle` seconds
before the run and subtracted). Consumers handle events in batches, so that last figure falls as
batches grow: compare it between runs of the same rate on an equally quiet machine.

`--py-spy DIR` profiles each platform process from the start of the window to the end of the
drain (`py-spy record`; run the script with `uv run --with py-spy python ...`; `--py-spy-args
"--gil"` keeps only samples holding the GIL, closer to CPU; `--py-spy-format raw` (default)
writes collapsed stacks that `bench/pipeline/top_frames.py DIR` summarises per process).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import heapq
import json
import os
import platform as host
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import aiohttp  # noqa: E402
import asyncpg  # noqa: E402
import orjson  # noqa: E402

from bench.pipeline.families import KINDS, Family, FamilyMaker  # noqa: E402
from qamqor_cli.platform import DEFAULT_PORTS, DATABASES  # noqa: E402
from sandbox.idp import SIGN_IN_PATH  # noqa: E402
from bench.proc import cpu_seconds, descendants  # noqa: E402

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ID_TOKEN = "urn:ietf:params:oauth:token-type:id_token"
ACCESS_TOKEN = "urn:ietf:params:oauth:token-type:access_token"
# Statuses at which the decision is visible (services/intake/domain.py).
DECIDED = {"approved", "rejected", "contract_drafted", "contract_signed", "payments_scheduled"}


# ---- processes and their CPU ---------------------------------------------------------------------



def cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [part.decode(errors="replace") for part in f.read().split(b"\0") if part]
    except OSError:
        return []


def find_processes(ports: dict[str, int], kafka_port: int) -> dict[str, list[int]]:
    """The uvicorn processes listening on `ports` and the broker on `kafka_port` (attach mode)."""
    by_port = {str(port): name for name, port in ports.items()}
    found: dict[str, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        args = cmdline(int(entry))
        if "uvicorn" in " ".join(args[:3]) and "--port" in args:
            name = by_port.get(args[args.index("--port") + 1])
            if name:
                found[name] = [int(entry)]
        elif args and "noida" in args[0] and "--kafka-port" in args and args[args.index("--kafka-port") + 1] == str(kafka_port):
            found["broker"] = descendants(int(entry))
    return found


class CpuMeter:
    """CPU seconds per named group of processes, between `start()` and `stop()`. PostgreSQL
    backends come and go (pools open connections lazily): they are sampled every second, and one
    first seen after the start counts from zero."""

    def __init__(self, groups: dict[str, list[int]], backend_query: Any = None) -> None:
        self.groups = groups
        self.backend_query = backend_query  # async () -> list[int]
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.backends: set[int] = set()
        self.started_at = 0.0
        self.elapsed = 0.0
        self._task: asyncio.Task | None = None
        self._self_start = 0.0
        self.self_cpu = 0.0

    def _read(self, pids: list[int] | set[int], *, new_from_zero: bool) -> None:
        for pid in pids:
            try:
                value = cpu_seconds(pid)
            except (FileNotFoundError, ProcessLookupError):
                continue
            if pid not in self.first:
                self.first[pid] = 0.0 if new_from_zero else value
            self.last[pid] = value

    async def _poll_backends(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            await self._sample(new_from_zero=True)

    async def _sample(self, *, new_from_zero: bool) -> None:
        if self.backend_query is not None:
            try:
                self.backends |= set(await self.backend_query())
            except Exception:  # noqa: BLE001 - a sample missed
                pass
        self._read(self.backends, new_from_zero=new_from_zero)

    async def start(self) -> None:
        self.first.clear()
        self.last.clear()
        for pids in self.groups.values():
            self._read(pids, new_from_zero=False)
        await self._sample(new_from_zero=False)
        self.started_at = time.monotonic()
        self._self_start = time.process_time()
        self._task = asyncio.create_task(self._poll_backends())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        for pids in self.groups.values():
            self._read(pids, new_from_zero=False)
        await self._sample(new_from_zero=True)
        self.elapsed = time.monotonic() - self.started_at
        self.self_cpu = time.process_time() - self._self_start

    def used(self) -> dict[str, float]:
        """CPU seconds per group during the window."""
        out = {name: sum(self.last.get(p, 0.0) - self.first.get(p, 0.0) for p in pids)
               for name, pids in self.groups.items()}
        out["postgres backends"] = sum(self.last[p] - self.first[p] for p in self.backends if p in self.last)
        out["load generator (this)"] = self.self_cpu
        return out


# ---- the platform --------------------------------------------------------------------------------

@dataclass
class Target:
    gateway: str
    sandbox: str
    portal: dict[str, str]
    processes: dict[str, list[int]]
    postgres_url: str | None
    db_prefix: str | None
    intake_url: str | None = None  # its database, for `--watch db`
    state_dir: Path | None = None  # own platform: its keys, logs
    stop: Any = None  # () -> None


def own_platform(args: argparse.Namespace) -> Target:
    from qamqor_cli.infra import ensure_postgres, free_port
    from qamqor_cli.platform import Layout, start_platform
    from shared.db import drop_database
    from shared.identity import CALLER_KINDS

    state = Path(tempfile.mkdtemp(prefix="qamqor-bench-pipeline-"))
    prefix = f"qamqor_bench{os.getpid()}"
    layout = Layout(
        state_dir=state, db_prefix=prefix, ports={n: free_port() for n in DEFAULT_PORTS}, kafka_port=free_port(),
        environment="test", log_level=args.log_level,
        extra_env={
            # Load, not the production rate limits, is measured.
            "QAMQOR_GATEWAY_RATE_LIMITS": json.dumps({k: {"rate": 1_000_000, "burst": 1_000_000} for k in CALLER_KINDS}),
            # Tokens are exchanged before the run; they must outlive it.
            "QAMQOR_GATEWAY_CITIZEN_TOKEN_LIFETIME_SECONDS": "900",
        },
    )
    postgres = ensure_postgres(state)

    def drop() -> None:
        for name in DATABASES:
            asyncio.run(drop_database(postgres.url(layout.database(name))))

    drop()  # a previous run of the same pid number
    print(f"starting the platform (state {state}, databases {prefix}_*)", flush=True)
    began = time.monotonic()
    try:
        platform = start_platform(layout)  # stops what it started if it fails
    except BaseException:
        drop()
        import shutil

        shutil.rmtree(state, ignore_errors=True)
        raise
    print(f"  ready in {time.monotonic() - began:.1f}s", flush=True)
    processes = {name: [p.pid] for name, p in platform.processes.items()}
    if platform.broker.process is not None:
        processes["broker"] = descendants(platform.broker.process.pid)

    def stop() -> None:
        try:
            platform.stop()
        finally:
            drop()
            if not args.keep_logs:
                import shutil

                shutil.rmtree(state, ignore_errors=True)
            else:
                print(f"logs kept in {layout.logs_dir}")

    portal = next(c for c in platform.callers if c["kind"] == "portal")
    return Target(gateway=layout.url("gateway"), sandbox=layout.url("sandbox"), portal=portal, processes=processes,
                  postgres_url=postgres.url("postgres"), db_prefix=prefix, stop=stop,
                  intake_url=postgres.url(layout.database("intake")), state_dir=state)


def attached_platform(args: argparse.Namespace) -> Target:
    from urllib.parse import urlsplit

    callers = json.loads(Path(args.callers).read_text())
    portal = next(c for c in callers if c["kind"] == "portal")
    offset = (urlsplit(args.url).port or 80) - DEFAULT_PORTS["gateway"]
    ports = {name: port + offset for name, port in DEFAULT_PORTS.items()}
    sandbox = args.sandbox_url or f"http://127.0.0.1:{ports['sandbox']}"
    processes = find_processes(ports, 19092 + offset)
    missing = sorted(set(DEFAULT_PORTS) - set(processes))
    if missing:
        print(f"note: no process found for {', '.join(missing)} (CPU not measured for them)")
    return Target(gateway=args.url.rstrip("/"), sandbox=sandbox.rstrip("/"), portal=portal, processes=processes,
                  postgres_url=args.postgres_url, db_prefix=args.db_prefix,
                  intake_url=args.postgres_url.rsplit("/", 1)[0] + f"/{args.db_prefix}_intake")


# ---- the load ------------------------------------------------------------------------------------

@dataclass
class App:
    family: Family
    token: str = ""
    scheduled: float = 0.0  # when it was due to be submitted (open loop), else when it was sent
    sent: float = 0.0
    accepted: float = 0.0  # the 201 came back
    status: int = 0
    id: str | None = None
    polls: int = 0
    last_unseen: float = 0.0  # the last poll that did not see the decision
    seen: float | None = None  # the first poll that saw it
    body: dict | None = None  # the application as then seen
    reexchanged: int = 0
    status_without_decision: str | None = None


@dataclass
class Run:
    apps: list[App]
    window_start: float = 0.0
    window_end: float = 0.0
    submitted: int = 0
    refused: dict[int, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    poll_errors: dict[str, int] = field(default_factory=dict)
    polls: int = 0
    drained_at: float = 0.0
    late_starts: int = 0  # open loop: submissions that started more than 100 ms after their moment
    done_submitting: bool = False
    in_flight: set = field(default_factory=set)


class Client:
    """One pooled aiohttp session for everything the load generator sends."""

    def __init__(self, target: Target, connections: int) -> None:
        self.target = target
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=connections, keepalive_timeout=30),
            timeout=aiohttp.ClientTimeout(total=60), json_serialize=lambda o: orjson.dumps(o).decode())
        self.portal_token = ""
        self.portal_token_at = 0.0

    async def close(self) -> None:
        await self.session.close()

    async def portal(self) -> str:
        if time.monotonic() - self.portal_token_at > 240:  # portal tokens live 600 s
            pair = f"{self.target.portal['id']}:{self.target.portal['secret']}".encode()
            basic = "Basic " + base64.b64encode(pair).decode()
            async with self.session.post(self.target.gateway + "/oauth/token",
                                         data={"grant_type": "client_credentials"}, headers={"Authorization": basic}) as r:
                r.raise_for_status()
                self.portal_token = (await r.json())["access_token"]
                self.portal_token_at = time.monotonic()
        return self.portal_token

    async def citizen_token(self, iin: str) -> str:
        """The applicant signs in at eGov IDP (the sandbox) and the portal exchanges the assertion."""
        async with self.session.post(self.target.sandbox + SIGN_IN_PATH,
                                     json={"iin": iin, "lifetime_seconds": 3600}) as r:
            r.raise_for_status()
            assertion = (await r.json())["id_token"]
        for attempt in range(5):
            async with self.session.post(self.target.gateway + "/oauth/token", data={
                    "grant_type": TOKEN_EXCHANGE, "subject_token": assertion, "subject_token_type": ID_TOKEN,
                    "actor_token": await self.portal(), "actor_token_type": ACCESS_TOKEN}) as r:
                if r.status == 429 or r.status == 503:
                    await asyncio.sleep(float(r.headers.get("Retry-After", "1")))
                    continue
                if r.status != 200:
                    raise RuntimeError(f"token exchange refused: {r.status} {await r.text()}")
                return (await r.json())["access_token"]
        raise RuntimeError("token exchange refused five times")


async def mint_tokens(client: Client, apps: list[App], concurrency: int) -> None:
    queue = iter(apps)
    done = 0
    began = time.monotonic()

    async def worker() -> None:
        nonlocal done
        for app in queue:
            app.token = await client.citizen_token(app.family.applicant_iin)
            done += 1
            if done % 2000 == 0:
                print(f"  {done} tokens ({done / (time.monotonic() - began):.0f}/s)", flush=True)

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def submit(client: Client, run: Run, app: App) -> None:
    app.sent = time.monotonic()
    if not app.scheduled:
        app.scheduled = app.sent
    try:
        for _ in range(3):
            async with client.session.post(
                    client.target.gateway + "/v1/applications", data=orjson.dumps(app.family.body),
                    headers={"Authorization": f"Bearer {app.token}", "Content-Type": "application/json",
                             "Idempotency-Key": str(uuid.uuid4())}) as r:
                body = await r.read()
                app.status = r.status
            if r.status == 401:  # attach mode: a citizen token that expired
                app.token = await client.citizen_token(app.family.applicant_iin)
                app.reexchanged += 1
                continue
            break
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        run.errors[type(exc).__name__] = run.errors.get(type(exc).__name__, 0) + 1
        return
    app.accepted = time.monotonic()
    run.submitted += 1
    if app.status == 201:
        app.id = orjson.loads(body)["id"]
        try:
            for adult in app.family.other_adults:
                await consent_in_portal(client, app, adult)
        except (aiohttp.ClientError, asyncio.TimeoutError, KeyError, StopIteration) as exc:
            run.errors["consent:" + type(exc).__name__] = run.errors.get("consent:" + type(exc).__name__, 0) + 1
    else:
        run.refused[app.status] = run.refused.get(app.status, 0) + 1


async def consent_in_portal(client: Client, app: App, iin: str) -> None:
    """Another adult of the family signs in at eGov and consents to the expense check in the
    portal (the applicant did when applying): without it no bank is asked and nothing is decided."""
    headers = {"Authorization": f"Bearer {await client.citizen_token(iin)}"}
    async with client.session.get(f"{client.target.gateway}/v1/applications/{app.id}", headers=headers) as r:
        r.raise_for_status()
        shown = await r.json()
    consent = next(m["consent"] for m in shown["members"] if m["iin"] == iin)
    async with client.session.post(f"{client.target.gateway}/v1/consents/{consent['id']}/reply",
                                   data=orjson.dumps({"answer": "yes"}),
                                   headers=headers | {"Content-Type": "application/json"}) as r:
        r.raise_for_status()


def next_poll(age: float, step: float, fine_until: float) -> float:
    """Seconds after submission of the next poll: every `step` up to `fine_until`, then about
    25 % later each time (at most 5 s apart)."""
    if age < fine_until:
        return (int(age / step) + 1) * step
    return age + min(5.0, max(step, 0.25 * age))


class Poller:
    """One task for every pending application: a heap of due times, at most `concurrency` polls
    in flight."""

    def __init__(self, client: Client, run: Run, *, step: float, fine_until: float, concurrency: int) -> None:
        self.client, self.run = client, run
        self.step, self.fine_until = step, fine_until
        self.heap: list[tuple[float, int]] = []
        self.gate = asyncio.Semaphore(concurrency)
        self.wake = asyncio.Event()
        self.pending = 0
        self.tasks: set[asyncio.Task] = set()

    def add(self, index: int) -> None:
        app = self.run.apps[index]
        base = app.scheduled
        heapq.heappush(self.heap, (base + next_poll(app.accepted - base, self.step, self.fine_until), index))
        self.pending += 1
        self.wake.set()

    async def loop(self) -> None:
        while True:
            if not self.heap:
                self.wake.clear()
                await self.wake.wait()
                continue
            due, index = self.heap[0]
            now = time.monotonic()
            if due > now:
                self.wake.clear()
                try:
                    await asyncio.wait_for(self.wake.wait(), due - now)
                except TimeoutError:
                    pass
                continue
            heapq.heappop(self.heap)
            await self.gate.acquire()
            task = asyncio.create_task(self.poll(index))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def poll(self, index: int) -> None:
        app = self.run.apps[index]
        try:
            at = time.monotonic()
            try:
                async with self.client.session.get(f"{self.client.target.gateway}/v1/applications/{app.id}",
                                                   headers={"Authorization": f"Bearer {app.token}"}) as r:
                    status, raw = r.status, await r.read()
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                status, raw = 0, type(exc).__name__.encode()
            self.run.polls += 1
            app.polls += 1
            if status == 200:
                body = orjson.loads(raw)
                if body.get("decision") is not None:
                    app.seen, app.body = at, body
                    self.pending -= 1
                    return
                if body.get("status") in DECIDED and app.status_without_decision is None:
                    # The status moved on, but the decision is not there (it should never be).
                    app.status_without_decision = body["status"]
                app.last_unseen = at
            elif status == 401:
                app.token = await self.client.citizen_token(app.family.applicant_iin)
                app.reexchanged += 1
            else:
                key = str(status) if status else raw.decode()
                self.run.poll_errors[key] = self.run.poll_errors.get(key, 0) + 1
            now = time.monotonic()
            heapq.heappush(self.heap, (app.scheduled + next_poll(now - app.scheduled, self.step, self.fine_until),
                                       index))
            self.wake.set()
        finally:
            self.gate.release()


class DbWatcher:
    """`--watch db`: one query every `interval` for every pending application, straight to
    intake's database: the moment a decision is committed there is the moment the citizen's GET
    returns it, and finding out costs the platform no request. After the drain each application
    is read once from the database as the GET would show it (timeline, decision)."""

    def __init__(self, dsn: str, run: Run, interval: float) -> None:
        self.dsn, self.run, self.interval = dsn, run, interval
        self.waiting: dict[str, int] = {}  # application id -> index
        self.pending = 0
        self.tasks: set[asyncio.Task] = set()

    def add(self, index: int) -> None:
        self.waiting[self.run.apps[index].id] = index  # type: ignore[index]
        self.pending += 1

    async def loop(self) -> None:
        conn = await asyncpg.connect(self.dsn)
        try:
            previous = time.monotonic()
            while True:
                await asyncio.sleep(self.interval)
                if not self.waiting:
                    continue
                at = time.monotonic()
                rows = await conn.fetch("SELECT id::text FROM applications WHERE id = ANY($1::uuid[]) "
                                        # a JSON null is what the ORM stores for "no decision"
                                        "AND jsonb_typeof(decision) = 'object'", list(self.waiting))
                self.run.polls += 1
                for row in rows:
                    app = self.run.apps[self.waiting.pop(row["id"])]
                    app.seen, app.last_unseen = at, previous
                    self.pending -= 1
                previous = at
        finally:
            await conn.close()

    async def read_back(self) -> None:
        """Each decided application as `GET /v1/applications/{id}` would show it: submitted_at,
        the timeline and the decision."""
        seen = {a.id: a for a in self.run.apps if a.seen is not None}
        conn = await asyncpg.connect(self.dsn)
        try:
            rows = await conn.fetch("SELECT id::text, submitted_at, decision::text FROM applications "
                                    "WHERE id = ANY($1::uuid[])", list(seen))
            changes = await conn.fetch("SELECT application_id::text AS id, status, at FROM status_changes "
                                       "WHERE application_id = ANY($1::uuid[]) ORDER BY at, id", list(seen))
        finally:
            await conn.close()
        timelines: dict[str, list[dict]] = {}
        for change in changes:
            timelines.setdefault(change["id"], []).append({"status": change["status"],
                                                           "at": change["at"].isoformat()})
        for row in rows:
            seen[row["id"]].body = {"submitted_at": row["submitted_at"].isoformat(),
                                    "decision": orjson.loads(row["decision"]) if row["decision"] else None,
                                    "timeline": timelines.get(row["id"], [])}


async def drive(client: Client, run: Run, poller: Poller, args: argparse.Namespace) -> None:
    apps = run.apps
    cursor = iter(range(len(apps)))
    deadline = run.window_start + args.duration

    async def one(index: int) -> None:
        await submit(client, run, apps[index])
        if apps[index].id is not None:
            poller.add(index)

    if args.rate:
        in_flight: set[asyncio.Task] = set()
        for index in cursor:
            moment = run.window_start + index / args.rate
            if moment >= deadline:
                break
            pause = moment - time.monotonic()
            if pause > 0:
                await asyncio.sleep(pause)
            elif pause < -0.1:
                run.late_starts += 1
            apps[index].scheduled = moment
            task = asyncio.create_task(one(index))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
        run.in_flight = in_flight  # finished during the drain
    else:
        async def worker() -> None:
            for index in cursor:
                if time.monotonic() >= deadline:
                    return
                await one(index)

        await asyncio.gather(*(worker() for _ in range(args.clients)))
    run.done_submitting = True


async def progress(run: Run, poller: Poller) -> None:
    previous_seen, previous_at = 0, time.monotonic()
    while True:
        await asyncio.sleep(10)
        now = time.monotonic()
        seen = sum(1 for a in run.apps if a.seen is not None)
        print(f"  [{now - run.window_start:5.0f}s] submitted {run.submitted}, decisions seen {seen} "
              f"(+{(seen - previous_seen) / (now - previous_at):.0f}/s), pending {poller.pending}, "
              f"polls {run.polls}, load {os.getloadavg()[0]:.2f}", flush=True)
        previous_seen, previous_at = seen, now


# ---- after the run: stage times from the platform's own clocks ------------------------------------

def parse_time(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


async def decided_at(client: Client, apps: list[App], sample: int) -> list[tuple[App, float]]:
    """When eligibility took the decision, for a sample of the decided applications."""
    chosen = [a for a in apps if a.body and (a.body.get("decision") or {}).get("decision_id")]
    chosen = random.Random(0).sample(chosen, min(sample, len(chosen)))
    out: list[tuple[App, float]] = []
    for app in chosen:
        decision_id = app.body["decision"]["decision_id"]
        async with client.session.get(f"{client.target.gateway}/v1/eligibility/decisions/{decision_id}",
                                      headers={"Authorization": f"Bearer {app.token}"}) as r:
            if r.status == 200:
                out.append((app, parse_time((await r.json())["decided_at"])))
    return out


# ---- figures -------------------------------------------------------------------------------------

def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def line(label: str, values: list[float], unit: str = "s") -> str:
    if not values:
        return f"  {label:<44} (none)"
    return (f"  {label:<44} p50 {pct(values, 50):7.3f}  p95 {pct(values, 95):7.3f}  p99 {pct(values, 99):7.3f}  "
            f"max {max(values):7.3f} {unit}  (n={len(values)})")


def timeline_times(app: App) -> dict[str, float]:
    """Seconds after `submitted_at` of each status in the application's timeline (first time)."""
    body = app.body or {}
    start = parse_time(body["submitted_at"])
    out: dict[str, float] = {}
    for change in body.get("timeline", ()):
        out.setdefault(change["status"], parse_time(change["at"]) - start)
    return out


def report(run: Run, meter: CpuMeter, meter_all: CpuMeter, meter_idle: CpuMeter, args: argparse.Namespace, decided: list[tuple[App, float]],
           load: dict[str, Any], mode: str) -> dict[str, Any]:
    apps = [a for a in run.apps if a.sent]
    accepted = [a for a in apps if a.id is not None]
    seen = [a for a in accepted if a.seen is not None]
    window = run.window_end - run.window_start
    in_window = [a for a in seen if a.seen <= run.window_end]
    last = max((a.seen for a in seen), default=run.window_start)
    first_sent = min((a.sent for a in apps), default=run.window_start)
    out: dict[str, Any] = {"mode": mode, "window_seconds": window}

    print()
    print(f"machine: {os.cpu_count()} cores, {host.machine()}, Python {host.python_version()}; load average "
          f"before {load['before'][0]:.2f}, during {load['during']:.2f} (mean of 1-min samples), "
          f"after {load['after'][0]:.2f}")
    print(f"load: {mode}, window {window:.1f}s; {len(apps)} submitted, {len(accepted)} accepted (201), "
          f"refused {run.refused or 0}, errors {run.errors or 0}"
          + (f", {run.late_starts} started >100 ms late" if args.rate else ""))
    if not args.rate and len(apps) == len(run.apps) and window < args.duration - 1:
        print(f"note: all {len(apps)} prepared families were submitted after {window:.0f}s, before --duration: "
              "raise --expect-rate")
    out["submitted"], out["accepted"] = len(apps), len(accepted)
    out["submissions_per_second"] = sum(1 for a in accepted if a.accepted <= run.window_end) / window
    out["decisions_per_second_in_window"] = len(in_window) / window
    out["decisions_per_second_to_last"] = len(seen) / (last - first_sent) if seen else 0.0
    print(f"  submissions/s {out['submissions_per_second']:8.1f}")
    print(f"  decisions visible/s, in the window    {out['decisions_per_second_in_window']:8.1f}  "
          f"({len(in_window)} of {len(accepted)} seen by its end)")
    print(f"  decisions visible/s, first submit to last decision {out['decisions_per_second_to_last']:8.1f}  "
          f"({len(seen)} seen, {len(accepted) - len(seen)} not within the drain of {args.drain:.0f}s)")

    submit_rt = [a.accepted - a.sent for a in accepted]
    submit_from_schedule = [a.accepted - a.scheduled for a in accepted]
    visible = [a.seen - a.scheduled for a in seen]
    bound_low = [max(a.last_unseen, a.accepted) - a.scheduled for a in seen]
    # The timeline holds each status with the time its event happened (the service's own clock,
    # the same machine): submitted (intake) → verified (verification) → approved/rejected
    # (eligibility). The decision became visible when the watcher or a poll saw it.
    wall = time.time() - time.monotonic()  # monotonic → epoch seconds
    stages: dict[str, list[float]] = {"submitted → verified (verification's event)": [],
                                      "verified → decided (eligibility's event)": [],
                                      "decided → visible to the citizen (upper bound)": []}
    for a in seen:
        t = timeline_times(a)
        decided_after = min((v for k, v in t.items() if k in DECIDED), default=None)
        if decided_after is None or "verified" not in t:
            continue
        stages["submitted → verified (verification's event)"].append(t["verified"])
        stages["verified → decided (eligibility's event)"].append(decided_after - t["verified"])
        decided_wall = parse_time(a.body["submitted_at"]) + decided_after
        stages["decided → visible to the citizen (upper bound)"].append(a.seen + wall - decided_wall)
    print("latency (seconds; open loop: from the scheduled moment):")
    print(line("submit (POST answered)", submit_rt))
    if args.rate:
        print(line("submit incl. waiting for the moment", submit_from_schedule))
    print(line("submit → decision visible (upper bound)", visible))
    print(line("  the look before it (lower bound)", bound_low))
    print("stages, from the application's timeline:")
    for label, values in stages.items():
        print(line("  " + label, values))
    out["latency"] = {name: {"p50": pct(v, 50), "p95": pct(v, 95), "p99": pct(v, 99), "max": max(v) if v else None,
                             "n": len(v)}
                      for name, v in [("submit", submit_rt), ("visible_upper", visible), ("visible_lower", bound_low),
                                      *stages.items()]}
    if decided:
        to_decided = [d - parse_time(a.body["submitted_at"]) for a, d in decided]
        print(line("  sample: submitted_at → decided_at (stored decision)", to_decided))
    polls_per_app = run.polls / max(1, len(accepted))
    if args.watch == "db":
        print(f"watched intake's database: {run.polls} queries, one every {args.db_interval}s")
    else:
        print(f"polls: {run.polls} ({run.polls / max(1e-9, (last if seen else run.window_end) - run.window_start):.0f}"
              f"/s, {polls_per_app:.1f} per application; step {args.poll_step}s to {args.poll_fine_until}s)"
              + (f"; poll errors {run.poll_errors}" if run.poll_errors else ""))
    reexchanged = sum(a.reexchanged for a in apps)
    if reexchanged:
        print(f"tokens exchanged again during the run (expired): {reexchanged}")

    wrong: dict[str, int] = {}
    for a in seen:
        decision = a.body.get("decision") or {}
        got = "rejected" if not decision.get("eligible") else decision.get("kind")
        if got != a.family.kind:
            key = f"{a.family.kind}→{got}"
            wrong[key] = wrong.get(key, 0) + 1
    mix = {k: sum(1 for a in seen if a.family.kind == k) for k in KINDS}
    print(f"decisions: {mix}; unexpected: {wrong or 'none'}")
    for a in [a for a in seen if ("rejected" if not (a.body.get("decision") or {}).get("eligible")
                                  else a.body["decision"].get("kind")) != a.family.kind][:3]:
        print(f"  e.g. expected {a.family.kind}, decided {(a.body.get('decision') or {}).get('reasons')}: "
              f"{orjson.dumps(a.family.body['members']).decode()}")
    lost = [a for a in accepted if a.seen is None and a.status_without_decision]
    if lost:
        print(f"status past the decision but no decision shown: {len(lost)} applications "
              f"({', '.join(sorted({a.status_without_decision for a in lost}))})")
    out["status_without_decision"] = len(lost)
    out["unexpected_decisions"] = wrong

    used = meter.used()
    elapsed = meter.elapsed
    total = sum(used.values())
    print(f"CPU during the window ({elapsed:.1f}s), % of one core (the machine has {os.cpu_count()}):")
    for name, seconds in sorted(used.items(), key=lambda kv: -kv[1]):
        print(f"  {name:<24} {100 * seconds / elapsed:6.1f} %   {100 * seconds / total if total else 0:5.1f} % of the "
              f"measured total")
    print(f"  {'total':<24} {100 * total / elapsed:6.1f} %   per decision seen in the window: "
          f"{1000 * total / max(1, len(in_window)):.1f} ms")
    out["cpu_percent"] = {name: 100 * s / elapsed for name, s in used.items()}
    # Comparable across runs on a shared machine: what each application cost, start to drained.
    used_all = meter_all.used()
    if seen:
        idle = meter_idle.used()
        idle_rate = {name: idle.get(name, 0.0) / meter_idle.elapsed for name in used_all}
        idle_rate["load generator (this)"] = 0.0
        per_app = {name: 1000 * (s - idle_rate[name] * meter_all.elapsed) / len(seen) for name, s in used_all.items()}
        print(f"CPU per decided application above idle, submit to drained ({meter_all.elapsed:.1f}s, {len(seen)} "
              f"decided; idle rates measured over {meter_idle.elapsed:.0f}s before), ms:")
        print("  " + ", ".join(f"{name} {ms:.1f}" for name, ms in sorted(per_app.items(), key=lambda kv: -kv[1]))
              + f"; total {sum(per_app.values()):.1f}")
        print(f"  (idle, % of one core: {', '.join(f'{n} {100 * r:.1f}' for n, r in idle_rate.items() if r)})")
        out["cpu_ms_per_application"] = per_app
    out["load_average"] = load
    return out


# ---- main ----------------------------------------------------------------------------------------

def start_py_spy(target: Target, directory: Path, seconds: float, fmt: str, rate: int,
                 extra: list[str]) -> list[subprocess.Popen]:
    import shutil

    binary = shutil.which("py-spy")
    if binary is None:
        raise SystemExit("py-spy is not installed: run the script with `uv run --with py-spy python ...`")
    directory.mkdir(parents=True, exist_ok=True)
    spies = []
    for name, pids in target.processes.items():
        if name == "broker":
            continue
        suffix = {"flamegraph": "svg", "speedscope": "json", "raw": "txt"}[fmt]
        spies.append(subprocess.Popen(
            [binary, "record", "--pid", str(pids[0]), "--duration", str(int(seconds)), "--rate", str(rate),
             # native stacks need the process paused while it is sampled
             *([] if "--native" in extra else ["--nonblocking"]),
             "--format", fmt, "--output", str(directory / f"{name}.{suffix}"), *extra],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    return spies


async def main_async(args: argparse.Namespace, target: Target) -> dict[str, Any]:
    count = args.families or int((args.rate or args.expect_rate) * args.duration * 1.05) + 100
    print(f"making {count} families (mix {args.mix})", flush=True)
    mix = tuple(float(x) for x in args.mix.split(","))
    families = FamilyMaker(seed=args.seed if args.seed is not None else int(time.time())).families(count, mix)
    run = Run(apps=[App(f) for f in families])
    connections = (args.clients or 256) + args.poll_concurrency + 16
    client = Client(target, connections)
    backend_query = None
    if target.postgres_url and target.db_prefix:
        from shared.db import asyncpg_dsn

        dsn = asyncpg_dsn(target.postgres_url)

        async def backend_query() -> list[int]:
            conn = await asyncpg.connect(dsn)
            try:
                rows = await conn.fetch("SELECT pid FROM pg_stat_activity WHERE datname LIKE $1",
                                        target.db_prefix + "\\_%")
            finally:
                await conn.close()
            return [row["pid"] for row in rows]

    meter = CpuMeter(target.processes, backend_query)  # the window
    meter_all = CpuMeter(target.processes, backend_query)  # the window and the drain
    meter_idle = CpuMeter(target.processes, backend_query)  # at rest before the run
    try:
        began = time.monotonic()
        print(f"exchanging {count} citizen tokens (before the run)", flush=True)
        await mint_tokens(client, run.apps, args.mint_concurrency)
        print(f"  done in {time.monotonic() - began:.1f}s; settling {args.settle:.0f}s (idle CPU measured)", flush=True)
        await meter_idle.start()
        await asyncio.sleep(args.settle)
        await meter_idle.stop()
        if args.watch == "db":
            from shared.db import asyncpg_dsn

            poller = DbWatcher(asyncpg_dsn(target.intake_url), run, args.db_interval)
        else:
            poller = Poller(client, run, step=args.poll_step, fine_until=args.poll_fine_until,
                            concurrency=args.poll_concurrency)
        poll_task = asyncio.create_task(poller.loop())
        load = {"before": os.getloadavg()}
        samples: list[float] = []

        async def sample_load() -> None:
            while True:
                await asyncio.sleep(5)
                samples.append(os.getloadavg()[0])

        sampler = asyncio.create_task(sample_load())
        spies = start_py_spy(target, Path(args.py_spy), args.duration + args.drain + 60, args.py_spy_format,
                             args.py_spy_rate, args.py_spy_args.split()) \
            if args.py_spy else []
        await meter.start()
        run.window_start = time.monotonic()
        mode = f"open loop at {args.rate}/s" if args.rate else f"closed loop, {args.clients} clients"
        print(f"running: {mode} for {args.duration:.0f}s", flush=True)
        reporter = asyncio.create_task(progress(run, poller))
        await meter_all.start()
        await drive(client, run, poller, args)
        run.window_end = time.monotonic()
        await meter.stop()
        load["after"] = os.getloadavg()
        print(f"submitting done after {run.window_end - run.window_start:.1f}s; draining (up to {args.drain:.0f}s)",
              flush=True)
        drain_deadline = time.monotonic() + args.drain
        while (poller.pending > 0 or run.in_flight) and time.monotonic() < drain_deadline:
            await asyncio.sleep(0.2)
        run.drained_at = time.monotonic()
        await meter_all.stop()
        reporter.cancel()
        sampler.cancel()
        poll_task.cancel()
        load["during"] = sum(samples) / len(samples) if samples else load["after"][0]
        for spy in spies:  # profiled from the start to the end of the drain: py-spy writes on SIGINT
            spy.send_signal(signal.SIGINT)
        for spy in spies:
            try:
                spy.wait(60)
            except subprocess.TimeoutExpired:
                spy.kill()
        if spies:
            print(f"py-spy profiles in {args.py_spy}")
        if isinstance(poller, DbWatcher):
            await poller.read_back()
        decided = await decided_at(client, run.apps, args.stage_sample)
        return report(run, meter, meter_all, meter_idle, args, decided, load, mode)
    finally:
        await client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    load = parser.add_mutually_exclusive_group(required=True)
    load.add_argument("--rate", type=float, help="open loop: applications per second")
    load.add_argument("--clients", type=int, help="closed loop: submissions kept in flight")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of submitting")
    parser.add_argument("--drain", type=float, default=120.0, help="seconds to wait for the last decisions")
    parser.add_argument("--families", type=int, help="families to prepare (default: enough for the run)")
    parser.add_argument("--expect-rate", type=float, default=150.0,
                        help="closed loop: the rate to prepare families and tokens for (default 150/s)")
    parser.add_argument("--mix", default="0.4,0.4,0.2", help="unconditional,conditional,rejected shares")
    parser.add_argument("--seed", type=int, help="families' seed (default: the time, so IINs differ between runs)")
    parser.add_argument("--watch", choices=("api", "db"), default="api",
                        help="api: poll GET /v1/applications/{id} as the citizen (default); db: watch intake's "
                             "database for the committed decision (exact to --db-interval, no load on the API)")
    parser.add_argument("--db-interval", type=float, default=0.1, help="--watch db: seconds between queries")
    parser.add_argument("--poll-step", type=float, default=0.5, help="poll every STEP s after submission ...")
    parser.add_argument("--poll-fine-until", type=float, default=3.0, help="... up to this age, then less often")
    parser.add_argument("--poll-concurrency", type=int, default=32)
    parser.add_argument("--mint-concurrency", type=int, default=16)
    parser.add_argument("--settle", type=float, default=10.0,
                        help="seconds of rest between token exchange and run (idle CPU is measured then)")
    parser.add_argument("--stage-sample", type=int, default=200,
                        help="decided applications whose eligibility decided_at is read after the run")
    parser.add_argument("--log-level", default="INFO", help="the platform's log level (own platform)")
    parser.add_argument("--keep-logs", action="store_true", help="keep the own platform's state dir and logs")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--py-spy", metavar="DIR", help="profile each platform process during the window")
    parser.add_argument("--py-spy-format", default="raw", choices=("flamegraph", "speedscope", "raw"))
    parser.add_argument("--py-spy-rate", type=int, default=50, help="py-spy samples per second")
    parser.add_argument("--py-spy-args", default="", help="more py-spy record options, e.g. '--native' or '--gil'")
    attach = parser.add_argument_group("attach to a running platform")
    attach.add_argument("--attach", action="store_true", help="use a running platform (`qamqor up`)")
    attach.add_argument("--url", default="http://127.0.0.1:8000", help="its gateway")
    attach.add_argument("--sandbox-url", help="its sandbox (default: the gateway's port offset applied to 8100)")
    attach.add_argument("--callers", default=str(REPO / ".qamqor" / "callers.json"), help="its demo credentials")
    attach.add_argument("--postgres-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/postgres",
                        help="to find its PostgreSQL backends")
    attach.add_argument("--db-prefix", default="qamqor", help="its databases' prefix")
    args = parser.parse_args()

    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    target = attached_platform(args) if args.attach else own_platform(args)
    try:
        figures = asyncio.run(main_async(args, target))
    finally:
        if target.stop is not None:
            print("stopping the platform and dropping its databases", flush=True)
            target.stop()
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2, default=str))


if __name__ == "__main__":
    main()
