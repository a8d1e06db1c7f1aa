"""`qamqor reporting rebuild`: reporting's projections rebuilt from the topics (docs/operations.md).

Against reporting's database (QAMQOR_REPORTING_DATABASE_URL, else the local platform's) and the
broker (QAMQOR_REPORTING_KAFKA_BOOTSTRAP, else the local platform's): the projection tables are
emptied and every topic is read again from its beginning (services/reporting/rebuild.py). The
reporting service may keep running meanwhile."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import typer

reporting_app = typer.Typer(help="Reporting's projections (the statistics and the ops dashboard).",
                            no_args_is_help=True)


def reporting_database_url(state_dir: Path, db_prefix: str) -> str:
    """QAMQOR_REPORTING_DATABASE_URL, else the database of the local platform `qamqor up` runs."""
    if os.environ.get("QAMQOR_REPORTING_DATABASE_URL"):
        return os.environ["QAMQOR_REPORTING_DATABASE_URL"]
    from qamqor_cli.infra import ensure_postgres
    from qamqor_cli.platform import Layout

    layout = Layout(state_dir=state_dir.resolve(), db_prefix=db_prefix)
    return ensure_postgres(layout.state_dir).url(layout.database("reporting"))


def run_rebuild(*, database_url: str, bootstrap: str, echo=typer.echo) -> int:  # noqa: ANN001
    """Rebuild; returns how many messages were read."""
    from services.reporting.rebuild import rebuild
    from shared.db import make_engine, make_sessionmaker

    async def go() -> int:
        engine = make_engine(database_url, pool_size=2)
        try:
            done = await rebuild(bootstrap=bootstrap, sessionmaker=make_sessionmaker(engine), echo=echo)
        finally:
            await engine.dispose()
        for topic, count in done.per_topic.items():
            echo(f"  {topic}: {count} message(s)")
        echo(f"rebuilt from {done.messages} message(s)"
             + (f" ({done.skipped} not events, skipped: they were dead-lettered when first read)" if done.skipped
                else "") + ".")
        return done.messages

    return asyncio.run(go())


@reporting_app.command("rebuild")
def rebuild_command(
    state_dir: Path = typer.Option(Path(".qamqor"), help="The local platform's state, as given to `qamqor up`."),
    db_prefix: str = typer.Option("qamqor", help="The databases' prefix, as given to `qamqor up`."),
    port_offset: int = typer.Option(0, help="As given to `qamqor up` (the broker listens on 19092 + offset)."),
    kafka_bootstrap: str | None = typer.Option(None, help="The broker (default: QAMQOR_REPORTING_KAFKA_BOOTSTRAP, "
                                                          "else the local platform's)."),
) -> None:
    """Empty reporting's projections and project every topic again from its beginning: the same
    figures, rebuilt from the events alone."""
    bootstrap = (kafka_bootstrap or os.environ.get("QAMQOR_REPORTING_KAFKA_BOOTSTRAP")
                 or f"127.0.0.1:{19092 + port_offset}")
    run_rebuild(database_url=reporting_database_url(state_dir, db_prefix), bootstrap=bootstrap)
