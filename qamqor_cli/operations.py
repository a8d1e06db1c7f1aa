"""`qamqor dlq …` and `qamqor reconcile`: the operator's tools (docs/operations.md).

`dlq` goes through the gateway with an administrator's client credentials (the `operations:admin`
scope): `--client-id/--client-secret` (or QAMQOR_CLIENT_ID / QAMQOR_CLIENT_SECRET), else the demo
administrator `qamqor up` wrote to <state-dir>/callers.json. `reconcile` runs intake's
reconciliation sweep against intake's database (QAMQOR_INTAKE_DATABASE_URL, else the local
platform's), as the running intake does every minute."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import typer

dlq_app = typer.Typer(help="Dead letters: list, show and replay them (through the gateway, as an administrator).",
                      no_args_is_help=True)


def table(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> str:
    """Rows as aligned columns under `header`."""
    cells = [[str(h) for h in header]] + [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells)


@dataclass
class Gateway:
    url: str
    client_id: str | None
    client_secret: str | None
    state_dir: Path

    @contextmanager
    def client(self) -> Iterator[httpx.Client]:
        """An HTTP client to the gateway with the administrator's token."""
        client_id, secret = self.client_id, self.client_secret
        if not client_id:
            callers_file = self.state_dir / "callers.json"
            if not callers_file.exists():
                _fail(f"No --client-id given and no {callers_file}: pass an administrator's client credentials.")
            admin = next((c for c in json.loads(callers_file.read_text()) if c.get("kind") == "admin"), None)
            if admin is None:
                _fail(f"No administrator in {callers_file}: pass --client-id and --client-secret.")
            client_id, secret = admin["id"], admin["secret"]
        with httpx.Client(base_url=self.url, timeout=30.0) as http:
            token = http.post("/oauth/token", data={"grant_type": "client_credentials"},
                              auth=(client_id, secret or ""))
            if token.status_code != 200:
                _fail(f"The gateway refused the credentials of {client_id}: {_problem(token)}")
            http.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
            yield http


def _problem(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"{response.status_code} {response.text[:200]}"
    errors = "; ".join(f"{e.get('field')}: {e.get('message')}" for e in body.get("errors", []))
    return f"{response.status_code} {body.get('detail') or body.get('title')}" + (f" ({errors})" if errors else "")


def _fail(message: str) -> None:
    typer.echo(message, err=True)
    raise typer.Exit(1)


def _answer(response: httpx.Response) -> Any:
    if response.status_code >= 400:
        _fail(_problem(response))
    return response.json()


@dlq_app.callback()
def connect(
    ctx: typer.Context,
    gateway: str = typer.Option("http://127.0.0.1:8000", envvar="QAMQOR_GATEWAY_URL", help="The gateway's URL."),
    client_id: str | None = typer.Option(None, envvar="QAMQOR_CLIENT_ID", help="An administrator's client id."),
    client_secret: str | None = typer.Option(None, envvar="QAMQOR_CLIENT_SECRET", help="Its secret."),
    state_dir: Path = typer.Option(Path(".qamqor"), help="Where `qamqor up` wrote callers.json."),
) -> None:
    ctx.obj = Gateway(gateway.rstrip("/"), client_id, client_secret, state_dir)


def _short(text: str, width: int = 70) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[:width - 1] + "…"


@dlq_app.command("list")
def list_(
    ctx: typer.Context,
    pending: bool | None = typer.Option(None, "--pending/--replayed",
                                        help="Only those not replayed since they last failed / only replayed ones."),
    failed_in: str | None = typer.Option(None, "--failed-in", help="The service that failed, e.g. verification."),
    event_type: str | None = typer.Option(None, "--type", help="The event type, e.g. application.submitted."),
    limit: int = typer.Option(100, min=1, max=500),
) -> None:
    """What failed, where, why and how often — the most recently failed first."""
    params = {k: v for k, v in {"pending": None if pending is None else str(pending).lower(), "failed_in": failed_in,
                                "event_type": event_type, "limit": limit}.items() if v is not None}
    with ctx.obj.client() as http:
        rows = _answer(http.get("/v1/dead-letters", params=params))
    if not rows:
        typer.echo("No dead letters.")
        return
    typer.echo(table([(r["event_id"], r["event_type"], r["failed_in"], r["times"], r["last_seen_at"][:19],
                       "pending" if r["pending"] else f"replayed {r['replayed_at'][:19]}",
                       _short(r["error"])) for r in rows],
                     ("EVENT ID", "TYPE", "FAILED IN", "TIMES", "LAST FAILED", "STATE", "ERROR")))


@dlq_app.command("show")
def show(ctx: typer.Context, event_id: str = typer.Argument(..., help="The dead-lettered event's id.")) -> None:
    """One event: every service that failed on it, why, how often, and its replays."""
    with ctx.obj.client() as http:
        event = _answer(http.get(f"/v1/dead-letters/{event_id}"))
    for name in ("event_id", "event_type", "key", "original_topic", "replayable", "replays", "replayed_at",
                 "replay_id"):
        typer.echo(f"{name:<15} {event[name]}")
    typer.echo("")
    typer.echo(table([(f["failed_in"], f["times"], f["first_seen_at"][:19], f["last_seen_at"][:19],
                       "pending" if f["pending"] else "replayed", f["error"]) for f in event["failures"]],
                     ("FAILED IN", "TIMES", "FIRST FAILED", "LAST FAILED", "STATE", "ERROR")))


@dlq_app.command("replay")
def replay(
    ctx: typer.Context,
    ids: list[str] = typer.Option([], "--id", help="An event to replay (repeat for several)."),
    everything: bool = typer.Option(False, "--all", help="Every dead letter not replayed since it last failed."),
    failed_in: str | None = typer.Option(None, "--failed-in", help="Those that failed in this service."),
    event_type: str | None = typer.Option(None, "--type", help="Those of this event type."),
    include_replayed: bool = typer.Option(False, "--include-replayed", help="Also those replayed before."),
) -> None:
    """Send dead-lettered events again to where they came from (after a fix): each takes effect
    once in the service that failed on it."""
    if not ids and not everything and not failed_in and not event_type:
        _fail("Name what to replay: --id ID (repeatable), --all, or --failed-in / --type.")
    with ctx.obj.client() as http:
        answers = [_answer(http.post(f"/v1/dead-letters/{event_id}/replay")) for event_id in ids]
        if everything or failed_in or event_type:
            body = {"all": everything, "failed_in": failed_in, "event_type": event_type,
                    "include_replayed": include_replayed}
            answers.append(_answer(http.post("/v1/dead-letters/replay",
                                             json={k: v for k, v in body.items() if v not in (None, False)})))
    replayed = [(a["replay_id"], event_id) for a in answers for event_id in a["replayed"]]
    if replayed:
        typer.echo(table(replayed, ("REPLAY ID", "EVENT ID")))
    remaining = sum(a["remaining"] for a in answers)
    typer.echo(f"{len(replayed)} event(s) sent again" + (f"; {remaining} more match (run again)" if remaining else "."))


# ---- the reconciliation sweep ----------------------------------------------------------------------

def run_reconcile(*, database_url: str, once: bool, dry_run: bool, echo: Callable[[str], None]) -> int:
    """Sweep (once, or every interval until interrupted); returns how many were re-driven."""
    from services.intake import reconciliation
    from services.intake.settings import IntakeSettings
    from shared.calendar import utcnow
    from shared.db import make_engine, make_sessionmaker

    settings = IntakeSettings(database_url=database_url)
    policy = reconciliation.ReconciliationPolicy.of(settings)

    async def sweep_once(sessionmaker) -> int:  # noqa: ANN001
        async with sessionmaker() as session:
            transaction = await session.begin()
            redriven = await reconciliation.sweep(session, policy=policy, now=utcnow())
            await (transaction.rollback() if dry_run else transaction.commit())
        verb = "would re-drive" if dry_run else "re-drove"
        if redriven:
            echo(table([(r.application_id, r.status, r.stuck_since.isoformat()[:19], r.owner, ", ".join(r.redrive),
                         f"{r.attempt}/{policy.max_attempts}" + (" (last)" if r.last else "")) for r in redriven],
                       ("APPLICATION", "STATUS", "STUCK SINCE", "OWNER", "RE-PUBLISHED BY", "ATTEMPT")))
        echo(f"{verb} {len(redriven)} stuck application(s).")
        return len(redriven)

    async def go() -> int:
        engine = make_engine(database_url, pool_size=1)
        try:
            sessionmaker = make_sessionmaker(engine)
            total = await sweep_once(sessionmaker)
            while not once:
                await asyncio.sleep(settings.reconciliation_interval_seconds)
                total += await sweep_once(sessionmaker)
            return total
        finally:
            await engine.dispose()

    return asyncio.run(go())


def intake_database_url(state_dir: Path, db_prefix: str) -> str:
    """QAMQOR_INTAKE_DATABASE_URL, else the database of the local platform `qamqor up` runs."""
    if os.environ.get("QAMQOR_INTAKE_DATABASE_URL"):
        return os.environ["QAMQOR_INTAKE_DATABASE_URL"]
    from qamqor_cli.infra import ensure_postgres
    from qamqor_cli.platform import Layout

    layout = Layout(state_dir=state_dir.resolve(), db_prefix=db_prefix)
    return ensure_postgres(layout.state_dir).url(layout.database("intake"))
