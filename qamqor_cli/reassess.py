"""`qamqor reassess --quarter 2027-Q1`: start the quarter's reassessment run through the gateway as
an administrator (client credentials as `qamqor dlq`: --client-id/--client-secret,
QAMQOR_CLIENT_ID/QAMQOR_CLIENT_SECRET, else the demo administrator in <state-dir>/callers.json)
and follow it with a progress bar — families done of the total, families/s, ETA — then its totals.
Started again for the same quarter it follows the run that exists (resuming a failed one).
docs/reassessment.md describes the run."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from qamqor_cli.operations import Gateway, _answer, _fail

QUARTER = r"^20\d{2}-Q[1-4]$"


class FamiliesPerSecond(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("– families/s" if speed is None else f"{speed:,.0f} families/s")


def follow(http: httpx.Client, quarter: str, *, poll: float = 1.0, console: Console | None = None,
           sleep: Callable[[float], None] = time.sleep) -> dict[str, Any]:
    """Start (or find) the quarter's run and show its progress until it completes or fails; the run."""
    console = console or Console()
    run = _answer(http.post("/v1/reassessments", json={"quarter": quarter}))
    console.print(f"Reassessment {run['id']}: {run['ending_quarter']} → {run['quarter']} ({run['status']})")
    with Progress(TextColumn("[bold]{task.fields[phase]}"), BarColumn(), MofNCompleteColumn(), FamiliesPerSecond(),
                  TextColumn("ETA"), TimeRemainingColumn(), console=console, transient=False) as progress:
        task = progress.add_task("families", total=run["progress"]["families_total"] or None,
                                 phase=run["progress"]["phase"])
        while True:
            shown = run["progress"]
            progress.update(task, total=shown["families_total"] or None, completed=shown["families_done"],
                            phase=shown["phase"])
            if run["status"] in ("completed", "failed"):
                break
            sleep(poll)
            run = _answer(http.get(f"/v1/reassessments/{run['id']}"))
    _print_totals(console, run)
    return run


def _print_totals(console: Console, run: dict[str, Any]) -> None:
    totals = run["totals"]
    if run["status"] == "failed":
        console.print(f"[red]The run stopped: {run['error']}[/red] — record what is missing and start it again "
                      "(it resumes where it stopped).")
    console.print(f"Extended: {totals['extended']:,} families, {totals['amount']:,} tenge for {run['quarter']}")
    for title, counts in (("Ended (by reason)", totals["ended"]), ("Listed for case workers", totals["review"])):
        if counts:
            console.print(f"{title}: " + ", ".join(f"{code} {n:,}" for code, n in sorted(counts.items())))
    if totals["amounts_by_region"]:
        table = Table("REGION", "FAMILIES", "TENGE")
        for row in totals["amounts_by_region"]:
            table.add_row(row["region_kato"], f"{row['families']:,}", f"{row['amount']:,}")
        console.print(table)


def reassess(
    quarter: str = typer.Option(..., "--quarter", help="The quarter to assign, YYYY-Qn (e.g. 2027-Q1)."),
    gateway: str = typer.Option("http://127.0.0.1:8000", envvar="QAMQOR_GATEWAY_URL", help="The gateway's URL."),
    client_id: str | None = typer.Option(None, envvar="QAMQOR_CLIENT_ID", help="An administrator's client id."),
    client_secret: str | None = typer.Option(None, envvar="QAMQOR_CLIENT_SECRET", help="Its secret."),
    state_dir: Path = typer.Option(Path(".qamqor"), help="Where `qamqor up` wrote callers.json."),
    poll: float = typer.Option(1.0, min=0.1, help="Seconds between progress reads."),
) -> None:
    """Reassess every recipient family for a quarter (automatic extension) and show the progress."""
    if not re.match(QUARTER, quarter):
        raise typer.BadParameter("the quarter is YYYY-Qn, e.g. 2027-Q1", param_hint="--quarter")
    with Gateway(gateway.rstrip("/"), client_id, client_secret, state_dir).client() as http:
        run = follow(http, quarter, poll=poll)
    if run["status"] != "completed":
        _fail(f"reassessment {run['id']} {run['status']}")
