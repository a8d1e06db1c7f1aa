"""Starting the whole platform as local processes: the same code path for `make run` and for
the end-to-end tests (which use other ports, another state dir and their own databases)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from qamqor_cli.infra import REPO_ROOT, Broker, Postgres, ensure_postgres, start_broker
from sandbox.idp import AUDIENCE as IDP_AUDIENCE, ISSUER as IDP_ISSUER, JWKS_PATH as IDP_JWKS_PATH
from shared.identity import generate_ed25519_pem

SERVICES = ("intake", "verification", "eligibility", "contracts", "payments", "reporting")
# Every database a stack has: the services', the gateway's and the sandbox's (its seeded store).
DATABASES = SERVICES + ("gateway", "sandbox")
# Services that run as two processes (ServiceSettings.role): "<name>" serves the API and
# "<name>-worker" runs the outbox relay, the consumer and the background loops. Intake's consumer
# applies every status event to the timeline a citizen reads; in the API's process it waited
# behind the submissions for the event loop (docs/benchmarks.md, stop 21).
SPLIT = ("intake",)
WORKERS = tuple(f"{name}-worker" for name in SPLIT)
# Every process a service runs as: what is started, watched and killed in turn.
SERVICE_PROCESSES = SERVICES + WORKERS
DEFAULT_PORTS = {
    "gateway": 8000, "intake": 8001, "verification": 8002, "eligibility": 8003,
    "contracts": 8004, "payments": 8005, "reporting": 8006, "intake-worker": 8007, "sandbox": 8100,
}


def service_of(process: str) -> str:
    """The service a process belongs to: "intake-worker" -> "intake"."""
    return process.removesuffix("-worker")


@dataclass
class Layout:
    state_dir: Path = REPO_ROOT / ".qamqor"
    db_prefix: str = "qamqor"
    ports: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_PORTS))
    kafka_port: int = 19092
    kafka_partitions: int = 4
    environment: str = "development"
    log_level: str = "INFO"
    # Extra environment for every process (tests raise the gateway's rate limits with it).
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def keys_dir(self) -> Path:
        return self.state_dir / "keys"

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def database(self, name: str) -> str:
        return f"{self.db_prefix}_{name}"


@dataclass
class Platform:
    layout: Layout
    postgres: Postgres
    broker: Broker
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    callers: list[dict] = field(default_factory=list)

    def env_for(self, name: str) -> dict[str, str]:
        if name in WORKERS:
            service = service_of(name)
            return self.env_for(service) | {f"QAMQOR_{service.upper()}_ROLE": "worker"}
        layout = self.layout
        env = dict(os.environ)
        env["PYTHONPATH"] = str(REPO_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
        prefix = f"QAMQOR_{name.upper()}_"
        env |= layout.extra_env
        env[prefix + "LOG_LEVEL"] = layout.log_level
        if name == "sandbox":
            # Issue 10: the sandbox's banks sign their callbacks as the demo bank callers (known once
            # seeded: a restarted sandbox gets them here, the first one through `configure_sandbox_banks`).
            env[prefix + "GATEWAY_URL"] = layout.url("gateway")
            banks = {c["bank_code"]: {"client_id": c["id"], "client_secret": c["secret"],
                                      "signing_secret": c["signing_secret"]}
                     for c in self.callers if c.get("kind") == "bank" and c.get("signing_secret")}
            if banks:
                env[prefix + "BANKS"] = json.dumps(banks)
            # The sandbox plays the SMS gateway: members' replies go to the gateway's
            # /v1/sms/inbound with the demo sms_gateway caller's own token.
            sms = next((c for c in self.callers if c.get("kind") == "sms_gateway"), None)
            if sms is not None:
                env[prefix + "SMS_CLIENT_ID"] = sms["id"]
                env[prefix + "SMS_CLIENT_SECRET"] = sms["secret"]
            # Issue 12: the seeded incomes `qamqor seed` writes (absent until a seed: synthetic answers).
            if self.postgres is not None:
                env[prefix + "DATABASE_URL"] = self.postgres.url(layout.database("sandbox"))
            return env
        env |= {
            prefix + "DATABASE_URL": self.postgres.url(layout.database(name)),
            prefix + "KAFKA_BOOTSTRAP": self.broker.bootstrap,
            prefix + "KAFKA_PARTITIONS": str(layout.kafka_partitions),
            prefix + "INTERNAL_PUBLIC_KEY_FILE": str(layout.keys_dir / "internal_public.pem"),
            prefix + "ENVIRONMENT": layout.environment,
        }
        if name in SPLIT:
            env[prefix + "ROLE"] = "api"
        if name == "verification":
            env[prefix + "INCOME_REGISTRY_URL"] = layout.url("sandbox")
            for system in ("ACCOUNTS_REGISTRY", "REAL_ESTATE_REGISTRY", "VEHICLE_REGISTRY", "BANKS"):
                env[prefix + system + "_URL"] = layout.url("sandbox")
            env[prefix + "BANK_CALLBACK_URL"] = layout.url("gateway") + "/v1/banks/{bank_code}/cashflow"
        if name == "eligibility":
            # Issue 12: the income registry's bulk extract (reassessment runs and simulations).
            env[prefix + "INCOME_REGISTRY_URL"] = layout.url("sandbox")
        if name == "intake":
            env[prefix + "SMS_GATEWAY_URL"] = layout.url("sandbox")
            # FDC invitations are pre-checked on the income registry's figures with eligibility's rules.
            env[prefix + "INCOME_REGISTRY_URL"] = layout.url("sandbox")
            env[prefix + "ELIGIBILITY_URL"] = layout.url("eligibility")
        if name == "gateway":
            env[prefix + "INTERNAL_PRIVATE_KEY_FILE"] = str(layout.keys_dir / "internal_private.pem")
            env[prefix + "KEY_DIR"] = str(layout.keys_dir)
            for service in SERVICES:
                env[prefix + f"{service.upper()}_URL"] = layout.url(service)
            # The sandbox plays eGov IDP: the portal exchanges its citizens' assertions at the gateway.
            env[prefix + "IDP_JWKS_URL"] = layout.url("sandbox") + IDP_JWKS_PATH
            env[prefix + "IDP_ISSUER"] = IDP_ISSUER
            env[prefix + "IDP_AUDIENCE"] = IDP_AUDIENCE
        return env

    def app_path(self, name: str) -> str:
        if name == "sandbox":
            return "sandbox.main:create_app"
        if name == "gateway":
            return "gateway.main:create_app"
        return f"services.{service_of(name)}.main:create_app"

    def start_process(self, name: str) -> subprocess.Popen:
        self.layout.logs_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.layout.logs_dir / f"{name}.log", "ab")
        process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", self.app_path(name), "--factory", "--host", "127.0.0.1",
             "--port", str(self.layout.ports[name]), "--no-access-log", "--log-level", "warning",
             "--timeout-graceful-shutdown", "5"],
            env=self.env_for(name), stdout=log, stderr=subprocess.STDOUT, cwd=REPO_ROOT,
        )
        self.processes[name] = process
        return process

    def stop_process(self, name: str, sig: int = signal.SIGTERM) -> None:
        process = self.processes.get(name)
        if process is None or process.poll() is not None:
            return
        process.send_signal(sig)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def stop(self) -> None:
        for name in reversed(list(self.processes)):
            self.stop_process(name)
        self.broker.stop()


def ensure_keys(keys_dir: Path) -> None:
    keys_dir.mkdir(parents=True, exist_ok=True)
    private, public = keys_dir / "internal_private.pem", keys_dir / "internal_public.pem"
    if not private.exists() or not public.exists():
        priv, pub = generate_ed25519_pem()
        private.write_bytes(priv)
        private.chmod(0o600)
        public.write_bytes(pub)


def migrate_all(platform: Platform) -> None:
    import importlib

    from shared.db import ensure_database, migrate

    for name in SERVICES + ("gateway",):
        url = platform.postgres.url(platform.layout.database(name))
        asyncio.run(ensure_database(url))
        module = importlib.import_module("gateway.main" if name == "gateway" else f"services.{name}.main")
        migrate(url, module.MIGRATIONS_DIR)


# How long `qamqor up` waits for every process's /ready: a service imports for a few seconds of
# CPU, and ten of them start at once; on a busy 2-core machine that took over a minute.
READY_SECONDS = float(os.environ.get("QAMQOR_UP_READY_SECONDS", "240"))


def wait_ready(platform: Platform, names: list[str], timeout: float = READY_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    pending = list(names)
    with httpx.Client(timeout=2.0) as client:
        while pending and time.monotonic() < deadline:
            for name in list(pending):
                process = platform.processes.get(name)
                if process is not None and process.poll() is not None:
                    raise RuntimeError(f"{name} exited with {process.returncode}; see {platform.layout.logs_dir / (name + '.log')}")
                try:
                    if client.get(platform.layout.url(name) + "/ready").status_code == 200:
                        pending.remove(name)
                except httpx.HTTPError:
                    pass
            if pending:
                time.sleep(0.2)
    if pending:
        raise TimeoutError(f"not ready after {timeout}s: {', '.join(pending)}")


def seed_callers(platform: Platform) -> list[dict]:
    from gateway.seed import seed_demo_callers

    path = platform.layout.state_dir / "callers.json"
    existing = json.loads(path.read_text()) if path.exists() else None
    callers = asyncio.run(seed_demo_callers(platform.postgres.url(platform.layout.database("gateway")), existing))
    path.write_text(json.dumps(callers, indent=2))
    path.chmod(0o600)
    platform.callers = callers
    return callers


def configure_sandbox_banks(platform: Platform) -> None:
    """Issue 10: tell the running sandbox each demo bank caller's credentials (control API), so
    its banks' callbacks carry a valid token and signature."""
    with httpx.Client(base_url=platform.layout.url("sandbox"), timeout=5.0) as sandbox:
        for caller in platform.callers:
            if caller.get("kind") == "bank" and caller.get("signing_secret"):
                sandbox.put(f"/sandbox/banks/{caller['bank_code']}/credentials", json={
                    "client_id": caller["id"], "client_secret": caller["secret"],
                    "signing_secret": caller["signing_secret"]}).raise_for_status()


def start_platform(layout: Layout, *, postgres: Postgres | None = None,
                   on_step=lambda message: None) -> Platform:  # noqa: ANN001
    """Everything `make run` starts, in order; returns once every process reports ready.
    `postgres`: a server to use (the failure suite's own, `infra.start_own_postgres`) instead of
    the one `ensure_postgres` finds; it is the caller's to stop."""
    from shared.kafka import ensure_topics

    from qamqor_cli.infra import port_open

    busy = [f"{name} ({port})" for name, port in layout.ports.items() if port_open("127.0.0.1", port)]
    if busy:
        raise SystemExit(f"Ports already in use: {', '.join(busy)}. Is Qamqor already running? "
                         "Stop it (Ctrl-C in its terminal) or choose other ports.")
    layout.state_dir.mkdir(parents=True, exist_ok=True)
    on_step("PostgreSQL")
    postgres = postgres or ensure_postgres(layout.state_dir)
    on_step("Kafka-protocol broker (noida-db)")
    broker = start_broker(layout.state_dir / "kafka", layout.kafka_port, layout.state_dir / "kafka.log")
    platform = Platform(layout, postgres, broker)
    try:
        ensure_keys(layout.keys_dir)
        on_step("migrations")
        migrate_all(platform)
        asyncio.run(ensure_topics(broker.bootstrap, layout.kafka_partitions))
        # The demo callers first (straight into the gateway's database): the sandbox starts with
        # the SMS gateway caller's credentials.
        on_step("demo callers")
        seed_callers(platform)
        on_step("sandbox, services and gateway")
        for name in ("sandbox",) + SERVICE_PROCESSES + ("gateway",):
            platform.start_process(name)
        wait_ready(platform, ["sandbox", *SERVICE_PROCESSES, "gateway"])
        # Seeded before the sandbox started (it has the credentials in its environment); told
        # again through its control API, as a sandbox started before the seeding would need.
        configure_sandbox_banks(platform)
    except BaseException:
        platform.stop()
        raise
    return platform
