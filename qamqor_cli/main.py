"""`qamqor`: the platform's command line (the Makefile calls it)."""

from __future__ import annotations

import contextlib
import json
import select
import signal
import socket
import time
from pathlib import Path

import typer

from qamqor_cli.platform import SERVICES, Layout, Platform, migrate_all, start_platform

app = typer.Typer(help="Qamqor: targeted social assistance back office.", no_args_is_help=True)

from qamqor_cli.callers import callers_app, keys_app  # noqa: E402  (the gateway's administration)

app.add_typer(callers_app, name="callers", help="Create, list, rotate and disable API callers.")
app.add_typer(keys_app, name="keys", help="List and rotate the gateway's token signing keys.")

from qamqor_cli.operations import dlq_app, intake_database_url, run_reconcile  # noqa: E402  (operations)

app.add_typer(dlq_app, name="dlq", help="Dead letters: list, show and replay them (as an administrator).")

from qamqor_cli.payments import payments_app  # noqa: E402  (the monthly payment run)

app.add_typer(payments_app, name="payments", help="Release a month's payment orders and reconcile a month.")

from qamqor_cli.reporting import reporting_app  # noqa: E402  (the statistics' projections)

app.add_typer(reporting_app, name="reporting", help="Rebuild reporting's projections from the topics.")

from qamqor_cli.reassess import reassess  # noqa: E402  (the quarterly reassessment run)

app.command("reassess")(reassess)

from qamqor_cli.seed import seed_command  # noqa: E402  (a synthetic register of recipients, issue 12)

app.command("seed")(seed_command)


@app.command()
def up(
    state_dir: Path = typer.Option(Path(".qamqor"), help="Where local data, keys, logs and credentials live."),
    gateway_port: int = typer.Option(8000),
    kafka_port: int = typer.Option(19092),
    port_offset: int = typer.Option(0, help="Added to every default port (gateway 8000, services 8001–8007, "
                                            "sandbox 8100, broker 19092) when those are taken."),
    db_prefix: str = typer.Option("qamqor", help="Databases are <prefix>_intake, …, <prefix>_gateway: another "
                                                "prefix keeps a second platform's data apart on a shared server."),
) -> None:
    """Start PostgreSQL (if needed), the broker, every service, the sandbox and the gateway."""
    layout = Layout(state_dir=state_dir.resolve(), kafka_port=kafka_port + port_offset, db_prefix=db_prefix)
    layout.ports = {name: port + port_offset for name, port in layout.ports.items()}
    layout.ports["gateway"] = gateway_port + port_offset
    started = time.monotonic()
    platform = start_platform(
        layout, on_step=lambda step: typer.echo(f"[{time.monotonic() - started:5.1f}s] starting {step}"))
    _print_welcome(platform, time.monotonic() - started)
    # The launcher sleeps until a signal comes: Ctrl-C/SIGTERM to stop, SIGCHLD when a child
    # exits (it is restarted at once). The handlers only note the signal; the wake-up fd makes
    # select() return, so nothing polls the children while all is well.
    stopping = {"now": False}

    def _stop(*_: object) -> None:
        stopping["now"] = True

    wake_read, wake_write = socket.socketpair()
    for end in (wake_read, wake_write):
        end.setblocking(False)
    signal.set_wakeup_fd(wake_write.fileno())
    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    try:
        while not stopping["now"]:
            restarted = False
            for name, process in platform.processes.items():
                if process.poll() is not None:
                    typer.echo(f"! {name} exited with {process.returncode}; restarting (log: {layout.logs_dir / name}.log)")
                    platform.start_process(name)
                    restarted = True
            if restarted:
                time.sleep(1.0)  # a process that fails at start-up is not restarted in a tight loop
            select.select([wake_read], [], [], 60.0)
            with contextlib.suppress(BlockingIOError):
                while wake_read.recv(64):
                    pass
    finally:
        typer.echo("stopping…")
        platform.stop()
        typer.echo("stopped; data kept in " + str(layout.state_dir))


def _print_welcome(platform: Platform, seconds: float) -> None:
    layout = platform.layout
    gateway = layout.url("gateway")
    typer.echo("")
    typer.echo(f"Qamqor is running (ready in {seconds:.1f}s).")
    typer.echo(f"  gateway        {gateway}")
    typer.echo(f"  API docs       {gateway}/docs")
    typer.echo(f"  dashboard      {gateway}/dashboard   (sign in with the ops caller's id and secret)")
    typer.echo(f"  sandbox        {layout.url('sandbox')}/docs   (external state systems)")
    typer.echo(f"  broker         {platform.broker.bootstrap}")
    typer.echo(f"  logs           {layout.logs_dir}")
    typer.echo(f"  credentials    {layout.state_dir / 'callers.json'}")
    typer.echo("")
    typer.echo("Demo callers (client_id / client_secret):")
    for caller in platform.callers:
        extra = f"  bank_code={caller['bank_code']}" if caller.get("bank_code") else ""
        typer.echo(f"  {caller['kind']:<12} {caller['id']:<24} {caller['secret']}{extra}")
    portal = next((c for c in platform.callers if c["kind"] == "portal"), None)
    if portal:
        typer.echo("")
        typer.echo("Get a token:")
        typer.echo(f"  curl -s -u {portal['id']}:{portal['secret']} -d grant_type=client_credentials {gateway}/oauth/token")
        typer.echo("The portal acts for a citizen who signed in at eGov IDP (the sandbox plays it) by exchanging")
        typer.echo("its token and the citizen's assertion: README.md, \"Try it with curl\".")
    typer.echo("\nCtrl-C stops everything.")


@app.command()
def migrate(state_dir: Path = typer.Option(Path(".qamqor"))) -> None:
    """Create every service database if missing and migrate it to head."""
    from qamqor_cli.infra import ensure_postgres

    layout = Layout(state_dir=state_dir.resolve())
    platform = Platform(layout, ensure_postgres(layout.state_dir), broker=None)  # type: ignore[arg-type]
    migrate_all(platform)
    typer.echo("migrated: " + ", ".join(SERVICES + ("gateway",)))


@app.command()
def reconcile(
    once: bool = typer.Option(False, "--once", help="One sweep, then exit (without it: a sweep every interval)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what is stuck and would be re-driven; change nothing."),
    state_dir: Path = typer.Option(Path(".qamqor")),
    db_prefix: str = typer.Option("qamqor", help="The databases' prefix, as given to `qamqor up`."),
) -> None:
    """Re-drive applications stuck in a status longer than its time limit (intake's reconciliation
    sweep, which the running intake also does every minute; docs/operations.md)."""
    run_reconcile(database_url=intake_database_url(state_dir, db_prefix), once=once or dry_run, dry_run=dry_run,
                  echo=typer.echo)


@app.command()
def demo(
    gateway: str = typer.Option("http://127.0.0.1:8000"),
    sandbox: str = typer.Option("http://127.0.0.1:8100", help="also plays eGov IDP, where citizens sign in"),
    state_dir: Path = typer.Option(Path(".qamqor")),
    families: int | None = typer.Option(None, "--families", min=1,
                                        help="Fill the stack with this many families with seed 003's spread "
                                             "(regions, 55 % urban, 5.3 people per family), some flagged by the "
                                             "FDC first, instead of walking the two demo families."),
    seed: int | None = typer.Option(None, help="With --families: the generator's seed (default: the time, so "
                                               "each run adds other families)."),
    concurrency: int = typer.Option(16, help="With --families: families walked at once."),
    payments: bool = typer.Option(True, "--payments/--no-payments",
                                  help="With --families: release this month's payments and play the banks "
                                       "settling them (a few fail) once the families are through."),
) -> None:
    """Two demo families, each submitted by its applicant (signed in at eGov IDP, the portal acting
    for her), followed through the gateway to a payment schedule; or, with --families N, N families
    for the dashboard (docs/reporting.md)."""
    from qamqor_cli.demo import run_demo, run_families

    callers = json.loads((state_dir / "callers.json").read_text())
    if families is None:
        run_demo(gateway, sandbox, callers, echo=typer.echo)
    else:
        run_families(gateway, sandbox, callers, families, seed=seed, concurrency=concurrency, payments=payments,
                     echo=typer.echo)


if __name__ == "__main__":
    app()
