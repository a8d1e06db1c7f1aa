"""Forwarding (streaming, hop-by-hop headers, failures), limits (rate, body size) and the
audit log."""

from __future__ import annotations

import hashlib
import os

from gateway.settings import RateLimit
from qamqor_cli.infra import free_port
from shared.errors import PROBLEM_JSON
from tests.integration.gateway.conftest import get_token, running_gateway


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_request_and_response_bodies_stream_through(gateway, register) -> None:
    portal = await register("portal")
    token = await get_token(gateway, portal)
    payload = os.urandom(300_000)

    async def chunks():
        for i in range(0, len(payload), 65536):
            yield payload[i:i + 65536]

    response = await gateway.post("/v1/applications", content=chunks(), headers=bearer(token))
    assert response.status_code == 200, response.text
    assert response.json()["body_length"] == len(payload)
    assert response.json()["body_sha256"] == hashlib.sha256(payload).hexdigest()

    streamed = await gateway.get("/v1/applications?chunks=50", headers=bearer(token))
    assert streamed.status_code == 200
    assert streamed.text.count("\n") == 50


async def test_query_string_and_hop_by_hop_headers(gateway, register) -> None:
    ops = await register("ops")
    token = await get_token(gateway, ops)
    response = await gateway.get(
        "/v1/stats/regions?region_kato=610000000&quarter=2025Q1",
        headers=bearer(token) | {"Connection": "keep-alive, x-drop-me", "Keep-Alive": "timeout=5", "TE": "trailers",
                                 "Proxy-Authorization": "Basic abc", "Upgrade": "h2c", "Cookie": "session=1",
                                 "X-Custom": "kept", "X-Drop-Me": "named in Connection"})
    assert response.status_code == 200
    seen = response.json()
    assert seen["query"] == "region_kato=610000000&quarter=2025Q1"
    names = set(seen["header_names"])
    assert not names & {"connection", "keep-alive", "te", "proxy-authorization", "upgrade", "authorization", "cookie",
                        "x-drop-me"}
    assert "x-custom" in names and "x-forwarded-for" in names
    assert "transfer-encoding" not in response.headers or response.headers["transfer-encoding"] == "chunked"


async def test_rate_limit_gives_429_with_retry_after(make_settings, register) -> None:
    limits = {kind: RateLimit(rate=1000, burst=1000) for kind in ("portal", "fdc", "bank", "sms_gateway", "admin",
                                                                   "case_worker")}
    limits["ops"] = RateLimit(rate=0.5, burst=3)
    async with running_gateway(make_settings(rate_limits=limits)) as limited:
        ops = await register("ops")
        other = await register("ops")
        token = await get_token(limited, ops)
        statuses = [(await limited.get("/v1/stats/summary", headers=bearer(token))).status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        refused = await limited.get("/v1/stats/summary", headers=bearer(token))
        assert refused.status_code == 429
        assert refused.headers["content-type"] == PROBLEM_JSON
        assert 1 <= int(refused.headers["retry-after"]) <= 2
        # The bucket is per caller: another ops caller is unaffected.
        other_token = await get_token(limited, other)
        assert (await limited.get("/v1/stats/summary", headers=bearer(other_token))).status_code == 200


async def test_body_over_the_limit_is_413(make_settings, register) -> None:
    async with running_gateway(make_settings(max_body_bytes=10_000)) as small:
        portal = await register("portal")
        token = await get_token(small, portal)
        declared = await small.post("/v1/applications", content=b"x" * 10_001, headers=bearer(token))
        assert declared.status_code == 413
        assert declared.headers["content-type"] == PROBLEM_JSON

        async def chunked():
            for _ in range(20):
                yield b"y" * 1000

        streamed = await small.post("/v1/applications", content=chunked(), headers=bearer(token))
        assert streamed.status_code == 413
        assert (await small.post("/v1/applications", content=b"x" * 10_000, headers=bearer(token))).status_code == 200
        token_endpoint = await small.post("/oauth/token", content=b"a=" + b"b" * 20_000,
                                          headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert token_endpoint.status_code == 413


async def test_service_down_is_503_and_slow_is_504(make_settings, register) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    async with running_gateway(make_settings(intake_url=closed, read_timeout_seconds=0.3)) as gw:
        portal = await register("portal")
        token = await get_token(gw, portal)
        for method in ("GET", "POST"):
            down = await gw.request(method, "/v1/applications", headers=bearer(token),
                                    json={} if method == "POST" else None)
            assert down.status_code == 503
            assert down.headers["content-type"] == PROBLEM_JSON
            assert down.json()["title"] == "Service unavailable"
        slow = await gw.get("/v1/payments?delay=1", headers=bearer(token))
        assert slow.status_code == 504
        assert slow.headers["content-type"] == PROBLEM_JSON
        assert (await gw.get("/v1/payments", headers=bearer(token))).status_code == 200


async def test_every_request_is_audited_with_iins_masked(gateway, register) -> None:
    portal = await register("portal")
    admin = await register("admin")
    token = await get_token(gateway, portal)
    answered = await gateway.get("/v1/applications/791028302728", headers=bearer(token))
    assert answered.status_code == 200
    refused = await gateway.get("/v1/stats/summary", headers=bearer(token))
    assert refused.status_code == 403
    anonymous = await gateway.get("/v1/applications/791028302728")
    assert anonymous.status_code == 401
    await gateway.gateway.audit.flush()

    admin_token = await get_token(gateway, admin)
    page = await gateway.get(f"/v1/audit?caller_id={portal.id}", headers=bearer(admin_token))
    assert page.status_code == 200
    records = {r["request_id"]: r for r in page.json()["items"]}
    record = records[answered.headers["x-request-id"]]
    assert record["path"] == "/v1/applications/7910******28"
    assert record["route"] == "/v1/applications/{application_id}"
    assert record["service"] == "intake"
    assert record["status"] == 200
    assert record["caller_kind"] == "portal"
    assert record["latency_ms"] > 0
    assert record["client_ip"] == "203.0.113.7"
    assert records[refused.headers["x-request-id"]]["status"] == 403
    assert "791028302728" not in page.text

    by_request = await gateway.get(f"/v1/audit?request_id={anonymous.headers['x-request-id']}",
                                   headers=bearer(admin_token))
    (unauthenticated,) = by_request.json()["items"]
    assert unauthenticated["caller_id"] is None and unauthenticated["status"] == 401
    assert unauthenticated["path"] == "/v1/applications/7910******28"


async def test_audit_pages_newest_first(gateway, register) -> None:
    admin = await register("admin")
    token = await get_token(gateway, admin)
    for _ in range(5):
        await gateway.get("/v1/callers", headers=bearer(token))
    await gateway.gateway.audit.flush()
    first = (await gateway.get(f"/v1/audit?caller_id={admin.id}&limit=3", headers=bearer(token))).json()
    assert len(first["items"]) == 3 and first["next_before_id"] is not None
    ids = [r["id"] for r in first["items"]]
    assert ids == sorted(ids, reverse=True)
    second = (await gateway.get(f"/v1/audit?caller_id={admin.id}&limit=3&before_id={first['next_before_id']}",
                                headers=bearer(token))).json()
    assert all(r["id"] < ids[-1] for r in second["items"])


async def test_health_ready_and_metrics(gateway, register) -> None:
    assert (await gateway.get("/health")).json()["status"] == "ok"
    ready = await gateway.get("/ready")
    assert ready.status_code == 200 and ready.json()["checks"]["database"] is True
    assert (await gateway.get("/metrics")).status_code == 401
    ops = await register("ops")
    metrics = await gateway.get("/metrics", headers=bearer(await get_token(gateway, ops)))
    assert metrics.status_code == 200
    # Labelled by route template, not by raw path (bounded cardinality, no IINs).
    assert any('route="/v1/applications/{application_id}"' in line and 'service="gateway"' in line
               for line in metrics.text.splitlines() if line.startswith("qamqor_http_requests_total{"))
