"""`make run` wiring of issue 10's sandbox banks: the demo bank callers' credentials reach the
sandbox (control API at first start, environment on a restart), and verification is pointed at
the sandbox's registries and banks and at the gateway's callback route."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from qamqor_cli.platform import Layout, Platform, configure_sandbox_banks

CALLERS = [
    {"id": "demo-portal", "kind": "portal", "secret": "p"},
    {"id": "demo-bank-x", "kind": "bank", "bank_code": "WIREKZKA", "secret": "s1", "signing_secret": "sig1"},
]


def test_the_demo_banks_credentials_reach_the_sandbox(sandbox_url, tmp_path: Path):
    layout = Layout(state_dir=tmp_path, ports={"sandbox": urlsplit(sandbox_url).port, "gateway": 1})
    platform = Platform(layout, postgres=None, broker=None, callers=CALLERS)  # the sandbox needs neither
    configure_sandbox_banks(platform)
    with httpx.Client(base_url=sandbox_url) as sandbox:
        banks = {b["bank_code"]: b for b in sandbox.get("/sandbox/banks").json()["banks"]}
    assert banks["WIREKZKA"]["credentials"] is True

    env = platform.env_for("sandbox")
    assert env["QAMQOR_SANDBOX_GATEWAY_URL"] == "http://127.0.0.1:1"
    assert json.loads(env["QAMQOR_SANDBOX_BANKS"]) == {
        "WIREKZKA": {"client_id": "demo-bank-x", "client_secret": "s1", "signing_secret": "sig1"}}


async def test_a_sandbox_started_with_the_banks_in_its_environment_plays_them(monkeypatch):
    from sandbox.main import create_app

    monkeypatch.setenv("QAMQOR_SANDBOX_BANKS", json.dumps(
        {"ENVBKZKA": {"client_id": "c", "client_secret": "s", "signing_secret": "g"}}))
    transport = httpx.ASGITransport(app=create_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as sandbox:
        banks = {b["bank_code"]: b["credentials"] for b in (await sandbox.get("/sandbox/banks")).json()["banks"]}
    assert banks["ENVBKZKA"] is True and banks["HSBKKZKX"] is False
