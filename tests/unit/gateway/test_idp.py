"""The gateway's check of eGov IDP assertions: the JWKS is fetched once and kept, fetched again
at once when an assertion names an unknown key (the IDP rotated its key) but never more often
than the minimum interval, and every claim is checked against an injected clock."""

from __future__ import annotations

import asyncio
from datetime import date

import pytest

from gateway.idp import IdpAssertions, IdpUnavailable, InvalidAssertion
from sandbox.idp import AUDIENCE, ISSUER, IdentityProvider
from shared.iin import make_iin

CITIZEN = make_iin(date(1979, 10, 28), "male", 302)


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Idp:
    """An IDP whose published keys the test controls, counting fetches."""

    def __init__(self) -> None:
        self.current = IdentityProvider()
        self.fetches = 0
        self.down = False

    async def fetch(self, url: str) -> dict:
        self.fetches += 1
        if self.down:
            raise ConnectionRefusedError(url)
        return {"keys": [self.current.jwk]}

    def sign(self, clock: Clock, iin: str = CITIZEN, **kwargs) -> str:
        import time as _time
        from unittest import mock

        with mock.patch.object(_time, "time", clock):
            return self.current.sign_in(issuer=kwargs.pop("issuer", ISSUER), iin=iin, method="eds", **kwargs)[0]


def _verifier(idp: Idp, clock: Clock, **kwargs) -> IdpAssertions:
    return IdpAssertions(jwks_url="http://idp/jwks", issuer=ISSUER, audience=AUDIENCE, leeway=5, fetch=idp.fetch,
                         clock=clock, **({"max_age": 3600, "min_refetch": 30} | kwargs))


def run(coroutine):  # noqa: ANN001, ANN201
    return asyncio.run(coroutine)


def test_keys_are_fetched_once_and_kept() -> None:
    idp, clock = Idp(), Clock(1_800_000_000)
    verifier = _verifier(idp, clock)
    for _ in range(3):
        assert run(verifier.verify(idp.sign(clock))).iin == CITIZEN
    assert idp.fetches == 1
    clock.now += 3600  # older than max_age: fetched again
    run(verifier.verify(idp.sign(clock)))
    assert idp.fetches == 2


def test_a_rotated_key_is_fetched_at_once_but_unknown_keys_are_rate_limited() -> None:
    idp, clock = Idp(), Clock(1_800_000_000)
    verifier = _verifier(idp, clock)
    run(verifier.verify(idp.sign(clock)))
    clock.now += 31
    idp.current = IdentityProvider()  # the IDP restarted with a new key
    assert run(verifier.verify(idp.sign(clock))).iin == CITIZEN
    assert idp.fetches == 2

    stranger = IdentityProvider()  # a key the IDP never published: made-up kids cost one fetch
    for _ in range(5):
        with pytest.raises(InvalidAssertion, match="not signed by a key"):
            run(verifier.verify(stranger.sign_in(issuer=ISSUER, iin=CITIZEN, method="eds")[0]))
    assert idp.fetches == 2  # within 30 s of the last fetch: none more
    clock.now += 30
    with pytest.raises(InvalidAssertion):
        run(verifier.verify(stranger.sign_in(issuer=ISSUER, iin=CITIZEN, method="eds")[0]))
    assert idp.fetches == 3


def test_an_unreachable_idp() -> None:
    idp, clock = Idp(), Clock(1_800_000_000)
    idp.down = True
    verifier = _verifier(idp, clock)
    with pytest.raises(IdpUnavailable):
        run(verifier.verify(idp.sign(clock)))
    with pytest.raises(IdpUnavailable):  # not asked again at once
        run(verifier.verify(idp.sign(clock)))
    assert idp.fetches == 1
    idp.down = False
    clock.now += 30
    assert run(verifier.verify(idp.sign(clock))).iin == CITIZEN
    idp.down = True
    clock.now += 3600  # stale, and the IDP is down: the keys it had keep verifying
    assert run(verifier.verify(idp.sign(clock))).iin == CITIZEN


@pytest.mark.parametrize("shift, ok", [(0, True), (59, True), (60 + 4, True), (60 + 5, False), (-5, True),
                                       (-6, False)])
def test_time_claims_with_the_leeway(shift: int, ok: bool) -> None:
    """A 60-second assertion, checked `shift` seconds after it was issued, with 5 s of leeway."""
    idp, clock = Idp(), Clock(1_800_000_000)
    assertion = idp.sign(clock, lifetime=60)
    clock.now += shift
    verifier = _verifier(idp, clock)
    if ok:
        assert run(verifier.verify(assertion)).expires_at == 1_800_000_060
    else:
        with pytest.raises(InvalidAssertion):
            run(verifier.verify(assertion))


@pytest.mark.parametrize("claims, reason", [
    ({"issuer": "https://evil.example"}, "another issuer"),
    ({"audience": "someone-else"}, "another audience"),
    ({"iin": "123456789012"}, "not a valid IIN"),
])
def test_claims_that_refuse_an_assertion(claims: dict, reason: str) -> None:
    idp, clock = Idp(), Clock(1_800_000_000)
    with pytest.raises(InvalidAssertion, match=reason):
        run(_verifier(idp, clock).verify(idp.sign(clock, **claims)))
