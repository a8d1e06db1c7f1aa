"""The failure suite's platform: every process `make run` starts, on a PostgreSQL server and a
broker of the suite's own (so both can be stopped, killed and restarted; the machine's shared
PostgreSQL is never touched), started once for the module and torn down — every process killed —
when it ends, whether it passed or not.

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

from qamqor_cli.infra import free_port, start_own_postgres
from qamqor_cli.platform import DEFAULT_PORTS, Layout, start_platform
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
        item.session.stash[FAILED] = True
    return report


FAILED = pytest.StashKey[bool]()


def pytest_terminal_summary(terminalreporter) -> None:  # noqa: ANN001
    if FIGURES:
        terminalreporter.write_sep("=", "failure suite: what each disruption left behind")
        for figures in FIGURES:
            terminalreporter.write_line(figures.line())
    for logs in KEPT_LOGS:
        terminalreporter.write_line(f"failure suite: the logs of the failed run are kept in {logs}")


@pytest.fixture(scope="module")
def failure_platform(request):
    root = Path(tempfile.mkdtemp(prefix="qamqor-failure-"))
    root.chmod(0o755)  # the postgres user (the server runs as it under root) must reach its own dir
    postgres = start_own_postgres(root / "postgres", free_port())
    platform = None

    def stop_everything() -> None:
        if platform is not None:
            for name in list(platform.processes):
                platform.stop_process(name, 9)  # SIGKILL: nothing is left to flush
            platform.broker.stop()
        postgres.stop("fast")

    atexit.register(stop_everything)  # an interrupted session too
    try:
        layout = Layout(
            state_dir=root / "platform",
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
        platform = start_platform(layout, postgres=postgres)
        yield platform
    finally:
        stop_everything()
        atexit.unregister(stop_everything)
        if request.session.stash.get(FAILED, False) and (root / "platform" / "logs").exists():
            # The processes' logs tell what went wrong; the data (databases, broker) goes.
            shutil.rmtree(root / "postgres", ignore_errors=True)
            shutil.rmtree(root / "platform" / "kafka", ignore_errors=True)
            KEPT_LOGS.append(root / "platform" / "logs")
        else:
            shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def harness(failure_platform):
    driver = Harness(failure_platform)
    yield driver
    driver.close()


@pytest.fixture
def record_figures():
    def record(figures: Figures) -> Figures:
        FIGURES.append(figures)
        return figures

    return record
