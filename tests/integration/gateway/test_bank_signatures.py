"""Signed bank callbacks: bearer token AND HMAC signature over timestamp, nonce, method, path
and body hash; every rejection reason of issue 3, and a valid request."""

from __future__ import annotations

import hashlib
import time

import pytest

from shared.errors import PROBLEM_JSON
from tests.integration.gateway.conftest import get_token, running_gateway, signed_headers

STATUS_PATH = "/v1/banks/HCSKKZKA/payment-status"
ORDERS_PATH = "/v1/banks/HCSKKZKA/payment-orders"
BODY = b'{"payment_id": "0190a1b2-c3d4-7e5f-8a9b-000000000001", "status": "settled"}'


@pytest.fixture(scope="module")
async def bank_a(register, gateway):
    bank = await register("bank", bank_code="HCSKKZKA", caller_id="sig-bank-a")
    return bank, await get_token(gateway, bank)


@pytest.fixture(scope="module")
async def bank_b(register, gateway):
    bank = await register("bank", bank_code="EURIKZKA", caller_id="sig-bank-b")
    return bank, await get_token(gateway, bank)


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


async def _post(gateway, token: str, headers: dict[str, str], body: bytes = BODY, path: str = STATUS_PATH):
    return await gateway.post(path, content=body, headers=_auth(token) | headers)


def _assert_refused(response, status: int = 401) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON


async def test_valid_signed_callback_is_forwarded_with_its_body(gateway, bank_a) -> None:
    bank, token = bank_a
    response = await _post(gateway, token, signed_headers(bank, "POST", STATUS_PATH, BODY))
    assert response.status_code == 200, response.text
    seen = response.json()
    assert seen["caller"]["bank_code"] == "HCSKKZKA"
    assert seen["body_length"] == len(BODY)
    assert seen["body_sha256"] == hashlib.sha256(BODY).hexdigest()


async def test_valid_signed_get_with_empty_body(gateway, bank_a) -> None:
    bank, token = bank_a
    response = await gateway.get(ORDERS_PATH, headers=_auth(token) | signed_headers(bank, "GET", ORDERS_PATH))
    assert response.status_code == 200, response.text


async def test_bad_signature(gateway, bank_a) -> None:
    bank, token = bank_a
    forged = signed_headers(bank, "POST", STATUS_PATH, BODY, secret="not-the-secret")
    _assert_refused(await _post(gateway, token, forged))


async def test_signature_over_another_body_method_or_path(gateway, bank_a) -> None:
    bank, token = bank_a
    _assert_refused(await _post(gateway, token, signed_headers(bank, "POST", STATUS_PATH, b"{}")))
    _assert_refused(await _post(gateway, token, signed_headers(bank, "PUT", STATUS_PATH, BODY)))
    _assert_refused(await _post(gateway, token, signed_headers(bank, "POST", ORDERS_PATH, BODY)))


async def test_signature_must_be_lowercase_hex(gateway, bank_a) -> None:
    bank, token = bank_a
    headers = signed_headers(bank, "POST", STATUS_PATH, BODY)
    headers["X-Qamqor-Signature"] = headers["X-Qamqor-Signature"].upper()
    _assert_refused(await _post(gateway, token, headers))


@pytest.mark.parametrize("skew", [301, -301, 3600, -86400])
async def test_stale_or_future_timestamp(gateway, bank_a, skew: int) -> None:
    bank, token = bank_a
    headers = signed_headers(bank, "POST", STATUS_PATH, BODY, timestamp=int(time.time()) + skew)
    response = await _post(gateway, token, headers)
    _assert_refused(response)
    assert "300 s" in response.json()["detail"]


@pytest.mark.parametrize("skew", [290, -290])
async def test_timestamp_inside_the_window(gateway, bank_a, skew: int) -> None:
    bank, token = bank_a
    headers = signed_headers(bank, "POST", STATUS_PATH, BODY, timestamp=int(time.time()) + skew)
    assert (await _post(gateway, token, headers)).status_code == 200


async def test_replayed_nonce(gateway, bank_a) -> None:
    bank, token = bank_a
    headers = signed_headers(bank, "POST", STATUS_PATH, BODY)
    assert (await _post(gateway, token, headers)).status_code == 200
    replay = await _post(gateway, token, headers)
    _assert_refused(replay)
    assert "nonce" in replay.json()["detail"]


async def test_replay_through_another_gateway_instance(gateway, bank_a, make_settings) -> None:
    """Nonces live in PostgreSQL, so two instances agree."""
    bank, token = bank_a
    headers = signed_headers(bank, "POST", STATUS_PATH, BODY)
    assert (await _post(gateway, token, headers)).status_code == 200
    async with running_gateway(make_settings()) as second:
        _assert_refused(await _post(second, token, headers))


@pytest.mark.parametrize("nonce", ["fifteen-chars15", "x" * 65, "has spaces in it!!", "slash/inside/nonce",
                                   "plus+plus+plus+plus"])
async def test_malformed_nonce(gateway, bank_a, nonce: str) -> None:
    """Correctly signed, but the nonce is not 16–64 URL-safe characters."""
    bank, token = bank_a
    _assert_refused(await _post(gateway, token, signed_headers(bank, "POST", STATUS_PATH, BODY, nonce=nonce)))


async def test_missing_signature_headers(gateway, bank_a) -> None:
    bank, token = bank_a
    full = signed_headers(bank, "POST", STATUS_PATH, BODY)
    for missing in full:
        _assert_refused(await _post(gateway, token, {k: v for k, v in full.items() if k != missing}))


async def test_another_banks_bank_code_is_403(gateway, bank_a, bank_b) -> None:
    bank, token = bank_a
    other_path = "/v1/banks/EURIKZKA/payment-status"
    # correctly signed by bank A, with bank A's token, but for bank B's bank code
    response = await _post(gateway, token, signed_headers(bank, "POST", other_path, BODY), path=other_path)
    _assert_refused(response, 403)
    # and bank B's own request to its own code passes
    other, other_token = bank_b
    assert (await _post(gateway, other_token, signed_headers(other, "POST", other_path, BODY),
                        path=other_path)).status_code == 200


async def test_signature_without_token_is_401(gateway, bank_a) -> None:
    bank, _ = bank_a
    response = await gateway.post(STATUS_PATH, content=BODY, headers=signed_headers(bank, "POST", STATUS_PATH, BODY))
    _assert_refused(response)
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_nonce_store_down_is_503_not_a_pass(bank_a, make_settings) -> None:
    """Without the shared nonce store a replay cannot be ruled out: refuse, do not forward."""
    bank, token = bank_a
    async with running_gateway(make_settings()) as second:
        async def store_down(*_args: object) -> bool:
            raise ConnectionRefusedError("PostgreSQL is down")

        second.gateway.remember_nonce = store_down
        response = await _post(second, token, signed_headers(bank, "POST", STATUS_PATH, BODY))
        _assert_refused(response, 503)
