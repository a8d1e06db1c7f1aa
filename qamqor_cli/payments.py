"""`qamqor payments release|reconcile`: the month's payment run and its reconciliation, through
the gateway with an administrator's client credentials (as `qamqor dlq`: --client-id and
--client-secret, QAMQOR_CLIENT_ID / QAMQOR_CLIENT_SECRET, else the demo administrator in
<state-dir>/callers.json). docs/payments.md describes both."""

from __future__ import annotations

import typer

from qamqor_cli.operations import _answer, connect, table

payments_app = typer.Typer(help="Payments: release a month's payment orders, reconcile a month (as an administrator).",
                           no_args_is_help=True)
payments_app.callback()(connect)

MONTH = r"^\d{4}-(0[1-9]|1[0-2])$"


def _month(value: str) -> str:
    import re

    if not re.match(MONTH, value):
        raise typer.BadParameter("the month is YYYY-MM, e.g. 2026-12")
    return value


@payments_app.command("release")
def release(ctx: typer.Context, month: str = typer.Option(..., "--month", callback=_month,
                                                          help="The month to release, YYYY-MM.")) -> None:
    """Make the month's payment orders (one batch per bank); running it again makes nothing new
    but the re-issues waiting."""
    with ctx.obj.client() as http:
        run = _answer(http.post("/v1/payments/releases", json={"month": month}))
    typer.echo(f"{run['month']}: {run['orders_created']} orders made, {run['reissues_released']} re-issues released")
    if run["batches"]:
        typer.echo(table([(b["bank_code"], b["id"], b["count"], b["total"], b["checksum"]) for b in run["batches"]],
                         ("BANK", "BATCH", "ORDERS", "TENGE", "CHECKSUM (SHA-256)")))
    else:
        typer.echo("Nothing new to release.")


@payments_app.command("reconcile")
def reconcile(ctx: typer.Context,
              month: str = typer.Option(..., "--month", callback=_month, help="The month paid, YYYY-MM."),
              bank_code: str | None = typer.Option(None, "--bank-code", help="One bank's BIC.")) -> None:
    """Per bank: ordered, settled, failed, re-issued, recalled, cancelled, outstanding — counts and
    tenge — then every anomaly and mismatch."""
    params = {"month": month} | ({"bank_code": bank_code} if bank_code else {})
    with ctx.obj.client() as http:
        report = _answer(http.get("/v1/payments/reconciliation", params=params))
    lines = ("ordered", "settled", "failed", "reissued", "recalled", "cancelled", "outstanding", "pending_reissue")
    if not report["banks"]:
        typer.echo(f"{month}: nothing ordered or cancelled.")
    else:
        typer.echo(table([(b["bank_code"], *(f"{b[line]['count']} / {b[line]['tenge']}" for line in lines),
                           b["unexplained_tenge"]) for b in report["banks"]],
                         ("BANK", *(line.upper().replace("_", " ") for line in lines), "UNEXPLAINED")))
    typer.echo(f"families due {report['families_due']}, fully paid {report['families_fully_paid']}")
    if report["anomalies"]:
        typer.echo("\nAnomalies (refused, never paid):")
        typer.echo(table([(a["kind"], a["bank_code"], a["month"], a["order_id"], a["amount"], a["detected_at"][:19])
                          for a in report["anomalies"]], ("KIND", "BANK", "MONTH", "ORDER", "TENGE", "SEEN")))
    if report["mismatches"]:
        typer.echo("\nMismatches (a family's month paid other than its decision):")
        typer.echo(table([(m["application_id"], m["month"], m["bank_code"], m["due"], m["settled"])
                          for m in report["mismatches"]], ("APPLICATION", "MONTH", "BANK", "DUE", "SETTLED")))
    else:
        typer.echo("No mismatch: no family's month is paid other than its decision.")
