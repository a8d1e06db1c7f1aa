"""Signed bank requests (issue 3): HMAC-SHA256 with the bank's signing secret over timestamp,
nonce, method, path and body hash. Everything here but the nonce's freshness, which needs the
shared store (gateway.frontdoor records it in PostgreSQL)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from gateway.callers import CallerRecord
from gateway.crypto import bank_signature, signatures_match

NONCE_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
TIMESTAMP_RE = re.compile(r"^[0-9]{1,12}$")
SIGNATURE_RE = re.compile(r"^[0-9a-f]{64}$")


class SignatureRejected(Exception):
    """A signed bank request that must be refused (401); the message says why."""


@dataclass(frozen=True, slots=True)
class SignedRequest:
    nonce: str
    timestamp: int


def check_bank_signature(
    *, caller: CallerRecord, headers: Mapping[str, str], method: str, path: str, body: bytes,
    now: float, window_seconds: int,
) -> SignedRequest:
    """Everything but the nonce's freshness, which needs the shared store. The signature is
    checked before the clock so that an unsigned request learns nothing about either."""
    timestamp = headers.get("x-qamqor-timestamp", "")
    nonce = headers.get("x-qamqor-nonce", "")
    signature = headers.get("x-qamqor-signature", "")
    if not (timestamp and nonce and signature):
        raise SignatureRejected("X-Qamqor-Timestamp, X-Qamqor-Nonce and X-Qamqor-Signature are required.")
    if not TIMESTAMP_RE.match(timestamp):
        raise SignatureRejected("X-Qamqor-Timestamp must be unix seconds.")
    if not NONCE_RE.match(nonce):
        raise SignatureRejected("X-Qamqor-Nonce must be 16–64 URL-safe characters.")
    if caller.signing_secret is None:
        raise SignatureRejected("This caller has no signing secret.")
    expected = bank_signature(caller.signing_secret, timestamp=timestamp, nonce=nonce, method=method,
                              path=path, body=body)
    # compare_digest on every input (even a malformed one) so timing tells nothing.
    if not signatures_match(expected, signature) or not SIGNATURE_RE.match(signature):
        raise SignatureRejected("The request signature does not match.")
    if abs(now - int(timestamp)) > window_seconds:
        raise SignatureRejected(f"X-Qamqor-Timestamp is more than {window_seconds} s away from the gateway clock.")
    return SignedRequest(nonce, int(timestamp))
