"""The payments rail as a bank's operations team lives it: two banks, a release, one order
settled, one failed and re-issued to a corrected account, released again and settled; a duplicate
callback, one for an order that does not exist, one for another amount and one from another bank —
each refused and listed; a termination that recalls an order already released; and a
reconciliation with no unexplained difference. Real PostgreSQL and broker, the payments service's
own routes with the gateway's internal tokens."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date, datetime, timezone

import httpx
from sqlalchemy import select

from services.payments.models import ContractFacts
from shared.calendar import utcnow
from shared.events import Envelope
from shared.events.contracts import ContractSigned, ContractTerminated, MonthlyAmount
from tests.support import decided_event, eventually, person, publish

BANK = frozenset({"bank:callbacks"})
ADMIN = frozenset({"payments:release"})
OPS = frozenset({"stats:read"})
PORTAL = frozenset({"payments:read", "payments:write"})
HALYK, KASPI = "HSBKKZKX", "CASPKZKA"
CORRECTED_IBAN = "KZ18722S000012345678"


def decided(kind: str, member: dict, bank_code: str, months: list[tuple[str, int, int]]):  # noqa: ANN201
    envelope = decided_event(kind=kind, members=[member], bank_code=bank_code)
    payload = envelope.payload().model_copy(update={"monthly": [
        MonthlyAmount(month=m, tsa=tsa, child_supplement=child, total=tsa + child) for m, tsa, child in months]})
    return Envelope.wrap(payload, source="eligibility", key=envelope.key)


async def test_two_banks_a_failure_reissued_duplicates_refused_a_recall_and_a_clean_reconciliation(
        running_service, broker, internal_token):
    aigerim = person(date(1950, 3, 3), "female", "applicant")  # Halyk, TSA and a child supplement
    bolat = person(date(1949, 4, 4), "male", "applicant")  # Kaspi, TSA only
    dana = person(date(1992, 5, 5), "female", "applicant")  # conditional, Halyk, terminated on 14 January
    family_a = decided("unconditional", aigerim, HALYK, [("2031-01", 20000, 6488), ("2031-02", 20000, 6488)])
    family_b = decided("unconditional", bolat, KASPI, [("2031-01", 30000, 0), ("2031-02", 30000, 0)])
    family_c = decided("conditional", dana, HALYK, [("2031-01", 15000, 0), ("2031-02", 15000, 0),
                                                    ("2031-03", 15000, 0)])
    app_a, app_b, app_c = (uuid.UUID(f.data["application"]["application_id"]) for f in (family_a, family_b, family_c))
    bank = {code: internal_token("bank", BANK, bank_code=code) for code in (HALYK, KASPI)}
    admin, ops = internal_token("admin", ADMIN), internal_token("ops", OPS)
    as_aigerim = internal_token("portal", PORTAL, citizen=aigerim["iin"])

    async with running_service("payments") as client:
        async def months(app_id, citizen):  # noqa: ANN001, ANN202
            return (await client.get("/v1/payments", params={"application_id": str(app_id)},
                                     headers=internal_token("portal", PORTAL, citizen=citizen))).json()

        # Dana's signature reaches payments before her decision: parked, not dead-lettered.
        signed = Envelope.wrap(ContractSigned(contract_id=uuid.uuid4(), application_id=app_c,
                                              decision_id=uuid.UUID(family_c.data["decision_id"]),
                                              signed_at=datetime.now(timezone.utc)), source="contracts",
                               key=str(app_c))
        await publish(broker.bootstrap, "qamqor.contracts", signed)

        async def parked():  # noqa: ANN202
            async with client.app.state.sessionmaker() as session:
                return await session.scalar(select(ContractFacts.signed_decision_id)
                                            .where(ContractFacts.application_id == app_c))
        await eventually(parked)
        for family in (family_a, family_b, family_c):
            await publish(broker.bootstrap, "qamqor.eligibility", family, times=2)
        for app_id, who, count in ((app_a, aigerim, 2), (app_b, bolat, 2), (app_c, dana, 3)):
            async def planned(app_id=app_id, who=who, count=count):  # noqa: ANN001, ANN202
                rows = await months(app_id, who["iin"])
                return rows if len(rows) == count and all(r["status"] == "planned" for r in rows) else None
            await eventually(planned)

        # January's release: one batch per bank, and releasing again makes nothing.
        january = await client.post("/v1/payments/releases", json={"month": "2031-01"}, headers=admin)
        assert january.status_code == 200, january.text
        assert january.json()["orders_created"] == 4
        assert sorted((b["bank_code"], b["count"], b["total"]) for b in january.json()["batches"]) == sorted([
            (HALYK, 3, 20000 + 6488 + 15000), (KASPI, 1, 30000)])
        again = await client.post("/v1/payments/releases", json={"month": "2031-01"}, headers=admin)
        assert again.json() == {"month": "2031-01", "orders_created": 0, "reissues_released": 0, "batches": []}

        # Halyk pulls its batch, checks the count, total and checksum, and acknowledges it.
        [halyk_batch] = (await client.get(f"/v1/banks/{HALYK}/payment-orders", headers=bank[HALYK])).json()
        assert halyk_batch["count"] == len(halyk_batch["orders"]) == 3
        assert halyk_batch["total"] == sum(o["amount"] for o in halyk_batch["orders"])
        import hashlib
        lines = sorted(f"{o['id']}|{o['month']}|{o['component']}|{o['amount']}|{o['iban']}"
                       for o in halyk_batch["orders"])
        assert halyk_batch["checksum"] == hashlib.sha256("\n".join(lines).encode()).hexdigest()
        wrong = await client.post(f"/v1/banks/{HALYK}/batches/{halyk_batch['id']}/ack",
                                  json={"checksum": "0" * 64}, headers=bank[HALYK])
        assert wrong.status_code == 409 and wrong.json()["type"].endswith("checksum-mismatch")
        foreign_ack = await client.post(f"/v1/banks/{KASPI}/batches/{halyk_batch['id']}/ack",
                                        json={"checksum": halyk_batch["checksum"]}, headers=bank[KASPI])
        assert foreign_ack.status_code == 404
        ack = await client.post(f"/v1/banks/{HALYK}/batches/{halyk_batch['id']}/ack",
                                json={"checksum": halyk_batch["checksum"]}, headers=bank[HALYK])
        assert ack.status_code == 200 and ack.json()["acknowledged_at"]
        assert (await client.get(f"/v1/banks/{HALYK}/payment-orders", headers=bank[HALYK])).json() == []
        assert len((await client.get(f"/v1/banks/{HALYK}/payment-orders", params={"acknowledged": "true"},
                                     headers=bank[HALYK])).json()) == 1

        def order_of(batch, app_id, component="tsa"):  # noqa: ANN001, ANN202
            plan_ids = {m["id"] for m in batch_months[app_id]}
            return next(o for o in batch["orders"] if o["payment_id"] in plan_ids and o["component"] == component)
        batch_months = {app_a: await months(app_a, aigerim["iin"]), app_c: await months(app_c, dana["iin"]),
                        app_b: await months(app_b, bolat["iin"])}
        a_tsa, a_child, c_tsa = (order_of(halyk_batch, app_a), order_of(halyk_batch, app_a, "child_supplement"),
                                 order_of(halyk_batch, app_c))

        async def report(code, order_id, status, amount=None, reason=None):  # noqa: ANN001, ANN202
            body = {"order_id": str(order_id), "status": status} | ({"amount": amount} if amount else {}) | (
                {"reason": reason} if reason else {})
            return await client.post(f"/v1/banks/{code}/payment-status", json=body, headers=bank[code])

        assert (await report(HALYK, a_tsa["id"], "settled", "20000")).status_code == 200
        duplicate = await report(HALYK, a_tsa["id"], "settled", "20000")
        assert duplicate.status_code == 409 and duplicate.headers["content-type"] == "application/problem+json"
        assert (await report(HALYK, a_child["id"], "failed", reason="iban_invalid")).status_code == 200
        assert (await report(HALYK, a_child["id"], "failed", reason="iban_invalid")).status_code == 200  # a retry
        unknown = uuid.uuid4()
        assert (await report(HALYK, unknown, "settled", "20000")).status_code == 404
        assert (await report(HALYK, c_tsa["id"], "settled", "15001")).status_code == 409
        assert (await report(KASPI, c_tsa["id"], "settled", "15000")).status_code == 403
        assert (await report(HALYK, c_tsa["id"], "settled", "15000.00")).status_code == 200
        no_amount = await report(HALYK, c_tsa["id"], "settled")
        assert no_amount.status_code == 422 and no_amount.json()["errors"][0]["field"] == "amount"
        [kaspi_batch] = (await client.get(f"/v1/banks/{KASPI}/payment-orders", headers=bank[KASPI])).json()
        assert (await report(KASPI, kaspi_batch["orders"][0]["id"], "settled", "30000")).status_code == 200

        # Aigerim's supplement failed: the portal, acting for her, re-issues it to her Kaspi account.
        assert (await client.post(f"/v1/payments/{a_tsa['id']}/reissue", json={
            "iban": CORRECTED_IBAN, "bank_code": KASPI}, headers=as_aigerim)).status_code == 409  # settled
        stranger = internal_token("portal", PORTAL, citizen=bolat["iin"])
        assert (await client.post(f"/v1/payments/{a_child['id']}/reissue", json={
            "iban": CORRECTED_IBAN, "bank_code": KASPI}, headers=stranger)).status_code == 404
        bad_iban = await client.post(f"/v1/payments/{a_child['id']}/reissue", json={
            "iban": "KZ00722S000012345678", "bank_code": KASPI}, headers=as_aigerim)
        assert bad_iban.status_code == 422 and bad_iban.json()["errors"][0]["field"] == "iban"
        # The order goes to the bank named, the money to the IBAN: a Kaspi account (bank code 722)
        # named as CenterCredit's, or as a BIC no bank has, would sit in a batch no bank can pay.
        for wrong_bank in ("KCJBKZKX", "ABCDKZKX"):
            mismatch = await client.post(f"/v1/payments/{a_child['id']}/reissue", json={
                "iban": CORRECTED_IBAN, "bank_code": wrong_bank}, headers=as_aigerim)
            assert mismatch.status_code == 422, mismatch.text
            assert [e["field"] for e in mismatch.json()["errors"]] == ["bank_code"]
        unknown_code = await client.post(f"/v1/payments/{a_child['id']}/reissue", json={
            "iban": "KZ33999KZT1234567890", "bank_code": KASPI}, headers=as_aigerim)
        assert unknown_code.status_code == 422 and unknown_code.json()["errors"][0]["field"] == "bank_code"
        reissued = await client.post(f"/v1/payments/{a_child['id']}/reissue", json={
            "iban": CORRECTED_IBAN, "bank_code": KASPI}, headers=as_aigerim)
        assert reissued.status_code == 201, reissued.text
        assert (reissued.json()["reissue_of"], reissued.json()["status"], reissued.json()["amount"]) == (
            a_child["id"], "pending", 6488)
        assert (await client.post(f"/v1/payments/{a_child['id']}/reissue", json={
            "iban": CORRECTED_IBAN, "bank_code": KASPI}, headers=as_aigerim)).status_code == 409  # once
        assert (await months(app_a, aigerim["iin"]))[0]["status"] == "reissue_pending"

        rerun = (await client.post("/v1/payments/releases", json={"month": "2031-01"}, headers=admin)).json()
        assert (rerun["orders_created"], rerun["reissues_released"]) == (0, 1)
        assert [(b["bank_code"], b["count"], b["total"]) for b in rerun["batches"]] == [(KASPI, 1, 6488)]
        [kaspi_reissue] = (await client.get(f"/v1/banks/{KASPI}/payment-orders", params={"limit": 10},
                                            headers=bank[KASPI])).json()[1]["orders"]
        assert (kaspi_reissue["iban"], kaspi_reissue["reissue_of"]) == (CORRECTED_IBAN, a_child["id"])
        assert (await report(KASPI, kaspi_reissue["id"], "settled", "6488")).status_code == 200
        january_a = (await months(app_a, aigerim["iin"]))[0]
        assert january_a["status"] == "settled"
        assert sum(o["amount"] for o in january_a["orders"] if o["status"] == "settled") == january_a["total"]

        # February is released; then Dana's contract is terminated on 14 January: January stays
        # paid, February's order is recalled, March is never ordered.
        february = (await client.post("/v1/payments/releases", json={"month": "2031-02"}, headers=admin)).json()
        assert february["orders_created"] == 4
        terminated = Envelope.wrap(ContractTerminated(contract_id=uuid.uuid4(), application_id=app_c,
                                                      terminated_on=date(2031, 1, 14), reason="refused_measures",
                                                      member_iins=[dana["iin"]]),
                                   source="contracts", key=str(app_c))
        await publish(broker.bootstrap, "qamqor.contracts", terminated, times=2)

        async def stopped():  # noqa: ANN202
            rows = await months(app_c, dana["iin"])
            return rows if [r["status"] for r in rows] == ["settled", "recalled", "cancelled"] else None
        dana_months = await eventually(stopped)
        [recalled] = dana_months[1]["orders"]
        assert recalled["status"] == "recalled"
        late = await report(HALYK, recalled["id"], "settled", "15000")
        assert late.status_code == 409 and "recalled" in late.json()["detail"]
        assert (await client.post("/v1/payments/releases", json={"month": "2031-03"}, headers=admin)).json()[
            "orders_created"] == 0
        halyk_feb = next(b for b in (await client.get(f"/v1/banks/{HALYK}/payment-orders",
                                                      headers=bank[HALYK])).json() if b["month"] == "2031-02")
        assert {o["status"] for o in halyk_feb["orders"]} == {"released", "recalled"}

        # Reconciliation: every tenge ordered is settled, failed, recalled or outstanding.
        jan = (await client.get("/v1/payments/reconciliation", params={"month": "2031-01"}, headers=ops)).json()
        figures = {b["bank_code"]: b for b in jan["banks"]}
        assert {k: (v["count"], v["tenge"]) for k, v in figures[HALYK].items() if isinstance(v, dict) and v["count"]} \
            == {"ordered": (3, 41488), "settled": (2, 35000), "failed": (1, 6488)}
        assert {k: (v["count"], v["tenge"]) for k, v in figures[KASPI].items() if isinstance(v, dict) and v["count"]} \
            == {"ordered": (2, 36488), "settled": (2, 36488), "reissued": (1, 6488)}
        assert all(b["unexplained_tenge"] == 0 for b in jan["banks"]) and jan["mismatches"] == []
        assert (jan["families_due"], jan["families_fully_paid"]) == (3, 3)
        assert sorted(a["kind"] for a in jan["anomalies"]) == [
            "amount_mismatch", "duplicate_settlement", "foreign_order"]
        feb = (await client.get("/v1/payments/reconciliation", params={"month": "2031-02", "bank_code": HALYK},
                                headers=ops)).json()
        [halyk] = feb["banks"]
        assert (halyk["ordered"], halyk["recalled"], halyk["outstanding"], halyk["unexplained_tenge"]) == (
            {"count": 3, "tenge": 41488}, {"count": 1, "tenge": 15000}, {"count": 2, "tenge": 26488}, 0)
        assert [a["kind"] for a in feb["anomalies"]] == ["settlement_of_recalled"]
        march = (await client.get("/v1/payments/reconciliation", params={"month": "2031-03"}, headers=ops)).json()
        assert [(b["bank_code"], b["cancelled"], b["ordered"]["count"]) for b in march["banks"]] == [
            (HALYK, {"count": 1, "tenge": 15000}, 0)]
        # The report for an order that never existed is listed under the month it came in.
        today = utcnow().astimezone(__import__("zoneinfo").ZoneInfo("Asia/Almaty")).strftime("%Y-%m")
        now = (await client.get("/v1/payments/reconciliation", params={"month": today, "bank_code": HALYK},
                                headers=ops)).json()
        assert [(a["kind"], a["order_id"]) for a in now["anomalies"] if a["order_id"] == str(unknown)] == [
            ("unknown_order", str(unknown))]


class _GatewayStandIn(httpx.BaseTransport):
    """The CLI's HTTP calls, as the gateway would forward them, to the payments service running in
    the test's event loop: /oauth/token answers a token, everything else goes to the service with
    the internal token of an administrator (the CLI runs in a worker thread)."""

    def __init__(self, client: httpx.AsyncClient, loop: asyncio.AbstractEventLoop, headers: dict[str, str]) -> None:
        self.client, self.loop, self.headers, self.seen = client, loop, headers, []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            return httpx.Response(200, json={"access_token": "stand-in", "token_type": "Bearer"})
        self.seen.append((request.method, request.url.path))
        forwarded = self.client.build_request(request.method, request.url.path, params=request.url.params,
                                              content=request.read(), headers={
                                                  "content-type": request.headers.get("content-type", ""),
                                                  **self.headers})
        response = asyncio.run_coroutine_threadsafe(self.client.send(forwarded), self.loop).result(timeout=30)
        return httpx.Response(response.status_code, headers=response.headers, content=response.content)


async def test_the_cli_releases_a_month_and_prints_its_reconciliation(running_service, broker, internal_token,
                                                                      monkeypatch):
    from typer.testing import CliRunner

    from qamqor_cli.main import app as cli

    family = decided("unconditional", person(date(1951, 6, 6), "female", "applicant"), KASPI,
                     [("2032-05", 21000, 6488)])
    app_id = family.data["application"]["application_id"]
    async with running_service("payments") as client:
        await publish(broker.bootstrap, "qamqor.eligibility", family)

        async def planned():  # noqa: ANN202
            rows = (await client.get("/v1/payments", params={"application_id": app_id},
                                     headers=internal_token("case_worker", frozenset({"payments:read"}),
                                                            regions=frozenset({"61"})))).json()
            return rows or None
        await eventually(planned)
        stand_in = _GatewayStandIn(client, asyncio.get_running_loop(),
                                   internal_token("admin", frozenset({"payments:release", "stats:read"})))
        real_client = httpx.Client
        monkeypatch.setattr(httpx, "Client", lambda **kw: real_client(transport=stand_in, **kw))

        def run(*args: str) -> str:
            result = CliRunner().invoke(cli, ["payments", "--gateway", "http://gateway.test", "--client-id", "admin",
                                              "--client-secret", "x", *args])
            assert result.exit_code == 0, result.output
            return result.output

        released = await asyncio.to_thread(run, "release", "--month", "2032-05")
        assert "2 orders made, 0 re-issues released" in released and KASPI in released and "27488" in released
        assert "Nothing new to release." in await asyncio.to_thread(run, "release", "--month", "2032-05")
        report = await asyncio.to_thread(run, "reconcile", "--month", "2032-05")
        [row] = [line.split() for line in report.splitlines() if line.startswith(KASPI)]
        assert row[1:4] == ["2", "/", "27488"] and row[-1] == "0"  # ordered, nothing unexplained
        assert "families due 1, fully paid 0" in report and "No mismatch" in report
        assert stand_in.seen == [("POST", "/v1/payments/releases"), ("POST", "/v1/payments/releases"),
                                 ("GET", "/v1/payments/reconciliation")]
