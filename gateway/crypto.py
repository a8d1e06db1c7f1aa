"""The gateway's cryptographic primitives, in one place so they can be read and reviewed:
argon2id secret hashes, AES-256-GCM sealing of secrets at rest, Ed25519 token keys as JWKs,
and the bank request signature."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM


def new_client_secret() -> str:
    return secrets.token_urlsafe(32)


def new_signing_secret() -> str:
    return secrets.token_urlsafe(32)


class SecretHasher:
    """argon2id hashes of client secrets. `verify` never raises on a mismatch."""

    def __init__(self, *, time_cost: int, memory_kib: int, parallelism: int) -> None:
        self._hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib,
                                      parallelism=parallelism, type=Type.ID)
        # Verified against when the client id is unknown, so timing does not tell which ids exist.
        self._decoy = self._hasher.hash(secrets.token_urlsafe(16))

    def hash(self, secret: str) -> str:
        return self._hasher.hash(secret)

    def verify(self, secret_hash: str | None, secret: str) -> bool:
        try:
            return self._hasher.verify(secret_hash or self._decoy, secret) and secret_hash is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False


class MasterKey:
    """Seals small secrets (bank signing secrets, token private keys) for storage in the
    database. The label is authenticated too, so a sealed value cannot be moved to another use."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("the master key must be 32 bytes")
        self._aead = AESGCM(key)
        self._key = key

    def derive(self, label: str) -> bytes:
        """A 32-byte key for one other use (HKDF-Expand, RFC 5869, one block), so the master key
        itself never keys anything but the sealing."""
        return hmac.new(self._key, label.encode() + b"\x01", hashlib.sha256).digest()

    def seal(self, plaintext: bytes, label: str) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, plaintext, label.encode())

    def open(self, sealed: bytes, label: str) -> bytes:
        return self._aead.decrypt(sealed[:12], sealed[12:], label.encode())

    @staticmethod
    def load(path: Path, *, create: bool) -> "MasterKey":
        """Read the base64 key from `path`; create it (mode 0600) when allowed and absent."""
        if not path.exists():
            if not create:
                raise FileNotFoundError(f"master key file {path} does not exist")
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(base64.b64encode(os.urandom(32)) + b"\n")
        return MasterKey(base64.b64decode(path.read_bytes().strip()))


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def new_token_key() -> tuple[str, bytes, dict]:
    """A new Ed25519 key: (kid, private PEM, public JWK). The kid is the RFC 7638 thumbprint."""
    key = Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
    x = _b64url(key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))
    thumbprint = _b64url(hashlib.sha256(f'{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}'.encode()).digest())
    jwk = {"kty": "OKP", "crv": "Ed25519", "x": x, "kid": thumbprint, "use": "sig", "alg": "EdDSA"}
    return thumbprint, private_pem, jwk


def public_key_from_jwk(jwk: dict) -> Ed25519PublicKey:
    raw = base64.urlsafe_b64decode(jwk["x"] + "=" * (-len(jwk["x"]) % 4))
    return Ed25519PublicKey.from_public_bytes(raw)


def bank_signature(secret: bytes, *, timestamp: str, nonce: str, method: str, path: str, body: bytes) -> str:
    """Issue 3: lowercase hex HMAC-SHA256 over
    timestamp \\n nonce \\n METHOD \\n path \\n hex(sha256(raw body))."""
    message = "\n".join((timestamp, nonce, method.upper(), path, hashlib.sha256(body).hexdigest()))
    return hmac.new(secret, message.encode(), hashlib.sha256).hexdigest()


def signatures_match(expected: str, given: str) -> bool:
    return hmac.compare_digest(expected.encode(), given.encode("utf-8", "replace"))
