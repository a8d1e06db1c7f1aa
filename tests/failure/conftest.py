"""The failure suite's platform: every process `make run` starts, on a PostgreSQL server and a
broker of the suite's own (so both can be stopped, killed and restarted; the machine's shared
PostgreSQL is never touched), started once for the module and torn down — every process killed —
when it ends, whether it passed or not. After a scenario that failed, the next one gets a fresh
platform: what the failure left behind (an application stuck for good) would otherwise fail it too.

The failure tests run first in a session (see `pytest_collection_modifyitems`): the end-to-end
platform is session-scoped and lives until the session ends, so running them before it starts
keeps two platforms from running at once on a small machine.
"""

from __future__ import annotations

import atexit
import json
import shutil
import tempfile
from pathlib import Path

import pytest

from qamqor_cli.infra import OwnPostgres, free_port, start_own_postgres
from qamqor_cli.platform import DEFAULT_PORTS, Layout, Platform, start_platform
from shared.identity import CALLER_KINDS
from tests.failure.harness import Figures, Harness

# The figures of every scenario run in this session, printed at its end.
FIGURES: list[Figures] = []
# Where the logs of a platform on which a scenario failed were kept.
KEPT_LOGS: list[Path] = []

# How long an application may sit in a status before intake's reconciliation sweep re-drives it
# (production: 5–10 minutes), and how often the sweep looks: short, so that what a killed broker
# lost is re-driven within the scenario.
SWEEP_SLA_SECONDS = 6.0
SWEEP_INTERVAL_SECONDS = 1.0


def _is_failure_test(item: pytest.Item) -> bool:
    return Path(__file__).parent in Path(str(item.path)).parents


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The failure tests run before every other test (the platforms must not overlap, see above)."""
    failure = [item for item in items if _is_failure_test(item)]
    if failure:
        rest = [item for item in items if not _is_failure_test(item)]
        items[:] = failure + rest


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call):  # noqa: ANN001, ANN201
    report = yield
    if report.failed and _is_failure_test(item):
        stack = item.session.stash.get(STACK, None)
        if stack is not None:
            stack.tainted = True
    return report


def pytest_terminal_summary(terminalreporter) -> None:  # noqa: ANN001
    if FIGURES:
        terminalreporter.write_sep("=", "failure suite: what each disruption left behind")
        for figures in FIGURES:
            terminalreporter.write_line(figures.line())
    for logs in KEPT_LOGS:
        terminalreporter.write_line(f"failure suite: the logs of a failed run are kept in {logs}")


class Stack:
    """The platform the scenarios share, on its own PostgreSQL and broker, under one temporary
    directory; started again from scratch after a scenario failed on it."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="qamqor-failure-"))
        self.root.chmod(0o755)  # the postgres user (the server runs as it under root) must reach its own dir
        self.generation = 0
        self.postgres: OwnPostgres | None = None
        self.platform: Platform | None = None
        self.harness: Harness | None = None
        self.tainted = False

    @property
    def base(self) -> Path:
        return self.root / str(self.generation)

    def start(self) -> None:
        self.generation += 1
        self.base.mkdir()
        self.postgres = start_own_postgres(self.base / "postgres", free_port())
        layout = Layout(
            state_dir=self.base / "platform",
            db_prefix="qamqor",
            ports={name: free_port() for name in DEFAULT_PORTS},
            kafka_port=free_port(),
            environment="test",
            log_level="INFO",
            extra_env={
                "QAMQOR_GATEWAY_RATE_LIMITS": json.dumps({kind: {"rate": 10_000, "burst": 10_000}
                                                          for kind in CALLER_KINDS}),
                "QAMQOR_INTAKE_RECONCILIATION_SLA_SECONDS": json.dumps(
                    dict.fromkeys(("submitted", "verified", "approved", "contract_signed"), SWEEP_SLA_SECONDS)),
                "QAMQOR_INTAKE_RECONCILIATION_INTERVAL_SECONDS": str(SWEEP_INTERVAL_SECONDS),
            },
        )
        self.platform = start_platform(layout, postgres=self.postgres)
        self.harness = Harness(self.platform)
        self.tainted = False

    def stop(self) -> None:
        """Kill every process (nothing is left to flush), stop the broker and PostgreSQL. Keeps
        the logs of a platform a scenario failed on; everything else goes."""
        harness, platform, postgres = self.harness, self.platform, self.postgres
        self.harness = self.platform = self.postgres = None
        try:
            if harness is not None:
                harness.close()
        finally:
            if platform is not None:
                for name in list(platform.processes):
                    platform.stop_process(name, 9)
                platform.broker.stop()
            if postgres is not None:
                postgres.stop("fast")
            logs = self.base / "platform" / "logs"
            if logs in KEPT_LOGS:
                pass
            elif self.tainted and logs.exists():
                shutil.rmtree(self.base / "postgres", ignore_errors=True)
                shutil.rmtree(self.base / "platform" / "kafka", ignore_errors=True)
                KEPT_LOGS.append(logs)
            else:
                shutil.rmtree(self.base, ignore_errors=True)

    def close(self) -> None:
        try:
            self.stop()
        finally:
            if not any(self.root.iterdir()):
                self.root.rmdir()


STACK = pytest.StashKey[Stack]()


@pytest.fixture(scope="module")
def stack(request):
    stack = Stack()
    request.session.stash[STACK] = stack
    atexit.register(stack.close)  # an interrupted session too
    try:
        yield stack
    finally:
        atexit.unregister(stack.close)
        stack.close()


@pytest.fixture
def failure_platform(stack) -> Platform:
    if stack.tainted:
        stack.stop()
    if stack.platform is None:
        stack.start()
    return stack.platform


@pytest.fixture
def harness(stack, failure_platform) -> Harness:
    return stack.harness


@pytest.fixture
def record_figures():
    def record(figures: Figures) -> Figures:
        FIGURES.append(figures)
        return figures

    return record
