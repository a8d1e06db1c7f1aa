"""The ops dashboard's gateway side (gateway/dashboard.py, docs/dashboard.md), without a browser:
the cookie session, who gets one, what the data endpoint accepts, the page's files and headers.
The stand-in reporting service echoes what reached it, so a test sees the forwarded request
itself (path, query, the caller the internal token names, the headers that got through). The
same flows against the real reporting service, in Chromium: tests/browser/."""

from __future__ import annotations

import re
from http.cookies import SimpleCookie

import httpx
import pytest

from gateway.dashboard import COOKIE, PLOTLY_PATH
from gateway.settings import RateLimit
from tests.integration.gateway.conftest import get_token, running_gateway

ORIGIN = {"Origin": "http://gateway"}


def set_cookie(response: httpx.Response) -> SimpleCookie:
    cookies = SimpleCookie()
    for header in response.headers.get_list("set-cookie"):
        cookies.load(header)
    return cookies


async def sign_in(client: httpx.AsyncClient, caller, *, secret: str | None = None,
                  headers: dict[str, str] | None = None) -> httpx.Response:
    origin = {"Origin": str(client.base_url).rstrip("/")}
    return await client.post("/dashboard/sign-in", headers=headers if headers is not None else origin,
                             data={"client_id": caller.id, "client_secret": secret or caller.secret})


def fresh(gateway: httpx.AsyncClient, base_url: str = "http://gateway") -> httpx.AsyncClient:
    """A browser of its own (its own cookie jar) on the session's gateway app."""
    return httpx.AsyncClient(transport=gateway._transport, base_url=base_url)


def assert_nothing_from_the_data(response: httpx.Response, status: int = 401) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert "service" not in response.json() and "caller" not in response.json()  # the stand-in's echo


# ---- the session cookie ----------------------------------------------------------------------


async def test_an_ops_caller_signs_in_and_gets_a_strict_http_only_cookie_and_no_token(gateway, register) -> None:
    ops = await register("ops")
    async with fresh(gateway) as browser:
        response = await sign_in(browser, ops)
        assert response.status_code == 200, response.text
        assert response.json()["caller_id"] == ops.id and response.json()["signed_in"] is True
        [header] = response.headers.get_list("set-cookie")
        cookie = set_cookie(response)[COOKIE]
        assert cookie["httponly"] is True
        assert cookie["samesite"] == "Strict"
        assert cookie["path"] == "/dashboard"
        assert not cookie["secure"]  # plain http here (a developer's machine); see the https test
        assert int(cookie["max-age"]) == 8 * 3600
        token = cookie.value.split(".", 2)[2]
        assert token not in response.text and "access_token" not in response.text
        assert response.headers["cache-control"] == "no-store"
        assert "HttpOnly" in header and "SameSite=Strict" in header

        session = await browser.get("/dashboard/session")
        assert session.json() | {"quarters": None} == {
            "signed_in": True, "caller_id": ops.id, "kind": "ops", "quarters": None, "refresh_seconds": 30}
        assert token not in session.text


async def test_over_https_the_cookie_is_secure(gateway, register) -> None:
    ops = await register("ops")
    async with fresh(gateway, "https://gateway") as browser:
        response = await sign_in(browser, ops)
        assert response.status_code == 200, response.text
        assert set_cookie(response)[COOKIE]["secure"] is True


async def test_a_wrong_secret_or_another_kind_gets_no_cookie(gateway, register) -> None:
    ops, portal, bank, case_worker = (await register("ops"), await register("portal"),
                                      await register("bank", bank_code="HSBKKZKX"), await register("case_worker"))
    # An ops caller whose scopes were narrowed to something else.
    no_stats = await register("ops", scopes=["applications:read"])
    async with fresh(gateway) as browser:
        wrong = await sign_in(browser, ops, secret="not-the-secret")
        assert wrong.status_code == 401 and wrong.headers["content-type"] == "application/problem+json"
        assert "set-cookie" not in wrong.headers
        unknown = await browser.post("/dashboard/sign-in", headers=ORIGIN,
                                     data={"client_id": "nobody-at-all", "client_secret": "x"})
        assert unknown.status_code == 401 and unknown.json()["detail"] == wrong.json()["detail"]
        for other in (portal, bank, case_worker, no_stats):
            refused = await sign_in(browser, other)
            assert refused.status_code == 403, (other.kind, refused.text)
            assert "set-cookie" not in refused.headers
        missing = await browser.post("/dashboard/sign-in", headers=ORIGIN, data={"client_id": ops.id})
        assert missing.status_code == 422 and "client_secret" in missing.json()["detail"]
        assert not browser.cookies
        assert_nothing_from_the_data(await browser.get("/dashboard/data"))
        assert (await browser.get("/dashboard/session")).json() == {"signed_in": False}


async def test_an_admin_may_sign_in_too(gateway, register) -> None:
    admin = await register("admin")
    async with fresh(gateway) as browser:
        assert (await sign_in(browser, admin)).status_code == 200
        data = await browser.get("/dashboard/data")
        assert data.status_code == 200 and data.json()["caller"]["kind"] == "admin"


# ---- the data endpoint -----------------------------------------------------------------------


async def test_the_data_goes_to_reporting_with_the_cookies_caller_and_nothing_else(gateway, register) -> None:
    ops = await register("ops")
    async with fresh(gateway) as browser:
        assert (await sign_in(browser, ops)).status_code == 200
        response = await browser.get("/dashboard/data", params={
            "quarter": "2027-Q1", "region_kato": "610000000", "limit": "5", "path": "/v1/callers"})
        assert response.status_code == 200, response.text
        assert response.headers["cache-control"] == "no-store"
        assert "content-security-policy" in response.headers
        seen = response.json()
        assert seen["service"] == "reporting" and seen["path"] == "/v1/stats/dashboard"
        assert seen["query"] == "quarter=2027-Q1&region_kato=610000000"  # the two filters, nothing else
        # The token in the cookie grants stats:read only, whatever else the caller holds.
        assert seen["caller"] | {"scopes": None} == {"id": ops.id, "kind": "ops", "scopes": None, "bank_code": None,
                                                     "citizen": None, "regions": []}
        assert seen["caller"]["scopes"] == ["stats:read"]
        assert "cookie" not in seen["header_names"] and not seen["authorization_forwarded"]
        # Blank filters are "all".
        assert (await browser.get("/dashboard/data?quarter=&region_kato=")).json()["query"] == ""


async def test_the_data_endpoint_takes_only_the_cookie(gateway, register) -> None:
    ops = await register("ops")
    token = await get_token(gateway, ops)
    bearer = {"Authorization": f"Bearer {token}"}
    async with fresh(gateway) as browser:
        assert_nothing_from_the_data(await browser.get("/dashboard/data"))
        assert_nothing_from_the_data(await browser.get("/dashboard/data", headers=bearer))
        # The same token works on the API itself: the refusal is the dashboard's, not the token's.
        assert (await browser.get("/v1/stats/dashboard", headers=bearer)).status_code == 200
        # A cookie made by hand from a valid token, without the gateway's MAC, is no session.
        browser.cookies.set(COOKIE, f"1.AAAA.{token}", domain="gateway", path="/dashboard")
        assert_nothing_from_the_data(await browser.get("/dashboard/data"))
        assert_nothing_from_the_data(await browser.post("/dashboard/data", headers=ORIGIN), 405)
    # Whatever a cookie holds, it is a 401, never a 500.
    async with fresh(gateway) as browser:
        for junk in ("²³.x.y", "1.é.z", "..", "1..", "x" * 3000, "1.AAAA.é"):
            response = await browser.get("/dashboard/data", headers={"Cookie": f"{COOKIE}={junk}".encode("utf-8")})
            assert_nothing_from_the_data(response)


async def test_after_sign_out_nothing(gateway, register) -> None:
    ops = await register("ops")
    async with fresh(gateway) as browser:
        assert (await sign_in(browser, ops)).status_code == 200
        copied = browser.cookies.get(COOKIE)
        assert (await browser.get("/dashboard/data")).status_code == 200

        out = await browser.post("/dashboard/sign-out", headers=ORIGIN)
        assert out.status_code == 204
        cleared = set_cookie(out)[COOKIE]
        assert cleared.value == "" and cleared["max-age"] == "0" and cleared["httponly"] is True
        assert COOKIE not in browser.cookies
        assert_nothing_from_the_data(await browser.get("/dashboard/data"))
        assert (await browser.get("/dashboard/session")).json() == {"signed_in": False}

        # A copy of the cookie kept from before the sign-out no longer works either.
        browser.cookies.set(COOKIE, copied, domain="gateway", path="/dashboard")
        assert_nothing_from_the_data(await browser.get("/dashboard/data"))


async def test_sign_in_and_sign_out_only_from_the_page_itself(gateway, register) -> None:
    ops = await register("ops")
    async with fresh(gateway) as browser:
        for headers in ({"Origin": "https://evil.example"}, {"Origin": "null"}, {},
                        {"Referer": "https://evil.example/dashboard"}, {"Referer": "http://[::1/dashboard"},
                        {"Origin": "http://gateway.evil.example"}):
            refused = await sign_in(browser, ops, headers=headers)
            assert refused.status_code == 403, headers
            assert "set-cookie" not in refused.headers
        # A browser that sends a Referer and no Origin.
        assert (await sign_in(browser, ops, headers={"Referer": "http://gateway/dashboard"})).status_code == 200
        assert (await browser.post("/dashboard/sign-out", headers={"Origin": "https://evil.example"})).status_code == 403
        assert (await browser.get("/dashboard/data")).status_code == 200  # still signed in
        assert (await browser.get("/dashboard/sign-out")).status_code == 405
        json_body = await browser.post("/dashboard/sign-in", headers=ORIGIN,
                                       json={"client_id": ops.id, "client_secret": ops.secret})
        assert json_body.status_code == 415


async def test_sign_in_attempts_are_rate_limited(make_settings, register) -> None:
    ops = await register("ops")
    settings = make_settings(dashboard_sign_in_rate_limit=RateLimit(rate=0.001, burst=3))
    async with running_gateway(settings) as browser:
        await browser.gateway.directory.reload_one(ops.id)
        statuses = [(await sign_in(browser, ops, secret="guess")).status_code for _ in range(4)]
        assert statuses == [401, 401, 401, 429]
        limited = await sign_in(browser, ops)  # the right secret, too late
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
        assert "set-cookie" not in limited.headers


async def test_the_token_is_renewed_while_the_page_is_open_and_the_session_ends(make_settings, register) -> None:
    ops = await register("ops")
    now = [2_000_000_000.0]
    settings = make_settings(dashboard_session_seconds=3600)
    async with running_gateway(settings) as browser:
        browser.gateway.tokens.clock = lambda: now[0]
        assert (await sign_in(browser, ops)).status_code == 200
        first = browser.cookies.get(COOKIE)

        now[0] += 200  # a third of the token's 600 s: kept
        kept = await browser.get("/dashboard/data")
        assert kept.status_code == 200 and "set-cookie" not in kept.headers

        now[0] += 200  # past half its life: a new token, the same session
        renewed = await browser.get("/dashboard/data")
        assert renewed.status_code == 200
        cookie = set_cookie(renewed)[COOKIE]
        assert cookie.value != first and cookie.value.split(".")[0] == first.split(".")[0]
        assert int(cookie["max-age"]) == 3600 - 400 and cookie["httponly"] and cookie["samesite"] == "Strict"

        signed_in_at = int(first.split(".")[0])
        while now[0] + 290 < signed_in_at + 3600:  # the page keeps refreshing: the session lives on …
            now[0] += 290
            response = await browser.get("/dashboard/data")
            assert response.status_code == 200, (now[0], response.text)
        now[0] = signed_in_at + 3600 + 1  # … until its end, whatever the token
        assert_nothing_from_the_data(await browser.get("/dashboard/data"))


async def test_a_disabled_caller_is_signed_out_at_once(gateway, register) -> None:
    ops = await register("ops")
    async with fresh(gateway) as browser:
        assert (await sign_in(browser, ops)).status_code == 200
        async with gateway.gateway.sessionmaker() as session, session.begin():
            from gateway.callers import set_enabled
            await set_enabled(session=session, caller_id=ops.id, enabled=False)
        await gateway.gateway.directory.reload_one(ops.id)
        assert_nothing_from_the_data(await browser.get("/dashboard/data"))


# ---- the page and its files ------------------------------------------------------------------


async def test_the_page_has_a_strict_content_security_policy_and_no_inline_script(gateway) -> None:
    page = await gateway.get("/dashboard")
    assert page.status_code == 200 and page.headers["content-type"] == "text/html; charset=utf-8"
    csp = dict(part.strip().split(" ", 1) for part in page.headers["content-security-policy"].split(";"))
    assert csp["script-src"] == "'self'" and csp["default-src"] == "'none'"
    assert csp["connect-src"] == "'self'" and csp["frame-ancestors"] == "'none'"
    assert "http" not in page.headers["content-security-policy"]  # no other origin
    assert page.headers["x-content-type-options"] == "nosniff"
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", page.text, re.S)
    assert scripts and all('src="/dashboard/' in attrs and body.strip() == "" for attrs, body in scripts)
    assert f'src="{PLOTLY_PATH}"' in page.text
    assert not re.search(r"\son[a-z]+=", page.text)  # no inline event handlers
    assert "https://" not in page.text and "http://" not in page.text
    # The page revalidates; an unchanged one is a 304.
    assert page.headers["cache-control"] == "no-cache"
    again = await gateway.get("/dashboard", headers={"If-None-Match": page.headers["etag"]})
    assert again.status_code == 304 and again.content == b""


async def test_the_chart_library_is_served_from_the_gateway(gateway) -> None:
    plain = await gateway.get(PLOTLY_PATH, headers={"Accept-Encoding": "identity"})
    assert plain.status_code == 200
    assert plain.headers["content-type"] == "text/javascript; charset=utf-8"
    assert plain.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert plain.headers["x-content-type-options"] == "nosniff"
    assert b"plotly" in plain.content[:2000].lower() and len(plain.content) > 1_000_000
    zipped = await gateway.get(PLOTLY_PATH, headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.content == plain.content  # httpx decodes it
    assert int(zipped.headers["content-length"]) < len(plain.content) / 2
    for path, kind in (("/dashboard/static/dashboard.js", "text/javascript"),
                       ("/dashboard/static/i18n.js", "text/javascript"),
                       ("/dashboard/static/dashboard.css", "text/css")):
        response = await gateway.get(path)
        assert response.status_code == 200 and response.headers["content-type"].startswith(kind), path
    assert (await gateway.get("/dashboard/static/..%2f..%2fsettings.py")).status_code == 404
    assert (await gateway.get("/dashboard/static/nothing.js")).status_code == 404
    assert (await gateway.get("/dashboard/vendor/plotly-0.0.1.min.js")).status_code == 404


@pytest.mark.parametrize("path", ["/dashboard/static/dashboard.js", "/dashboard/static/i18n.js"])
async def test_the_scripts_hold_no_token_and_call_only_this_origin(gateway, path) -> None:
    text = (await gateway.get(path)).text
    assert "localStorage.setItem(LANG_KEY" in text or "QAMQOR_I18N" in text
    assert "document.cookie" not in text and "Authorization" not in text and "eval(" not in text
    assert not re.search(r"https?://", text)


async def test_dashboard_requests_are_audited(gateway, register) -> None:
    ops = await register("ops")
    async with fresh(gateway) as browser:
        assert (await sign_in(browser, ops)).status_code == 200
        assert (await browser.get("/dashboard/data")).status_code == 200
    await gateway.gateway.audit.flush()
    from gateway import repository
    async with gateway.gateway.sessionmaker() as session:
        rows = await repository.query_audit(session, caller_id=ops.id, request_id=None, route=None, status=None,
                                            since=None, until=None, before_id=None, limit=10)
    assert {(row.route, row.status) for row in rows} >= {("/dashboard/sign-in", 200), ("/v1/stats/dashboard", 200)}


async def test_sign_in_with_the_caller_registry_down_is_a_503(make_settings) -> None:
    from qamqor_cli.infra import free_port
    from shared.db import make_engine, make_sessionmaker

    async with running_gateway(make_settings()) as browser:
        directory = browser.gateway.directory
        working = directory.sessionmaker
        engine = make_engine(f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/nowhere", pool_size=1)
        directory.sessionmaker = make_sessionmaker(engine)
        try:
            response = await browser.post("/dashboard/sign-in", headers=ORIGIN,
                                          data={"client_id": "not-seen-yet", "client_secret": "x"})
            assert response.status_code == 503, response.text
            assert response.headers["content-type"] == "application/problem+json"
            assert response.headers["retry-after"] == "1" and "set-cookie" not in response.headers
        finally:
            directory.sessionmaker = working
            await engine.dispose()


def test_every_label_is_in_russian_kazakh_and_english() -> None:
    from gateway.dashboard import STATIC_DIR

    source = (STATIC_DIR / "i18n.js").read_text(encoding="utf-8")
    blocks = dict(re.findall(r"\n  (ru|kk|en): \{(.*?)\n  \},", source, re.S))
    keys = {lang: set(re.findall(r"(\w+): \"", block)) for lang, block in blocks.items()}
    assert set(keys) == {"ru", "kk", "en"}
    assert keys["ru"] == keys["kk"] == keys["en"], {lang: keys["en"] ^ k for lang, k in keys.items()}
    page = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    script = (STATIC_DIR / "dashboard.js").read_text(encoding="utf-8")
    used = set(re.findall(r'data-i18n="(\w+)"', page)) | set(re.findall(r'\bt\("(\w+)"\)', script))
    used |= {"children", "employed", "carers", "students", "unemployed", "other", "urban", "rural",
             "invited", "applied", "approved", "paid"}  # looked up from the data's own values
    assert used - keys["en"] == set()
    kazakh = "".join(re.findall(r'"([^"]*)"', blocks["kk"]))
    assert re.search("[әғқңөұүһі]", kazakh)  # Kazakh letters, not Russian labels under another name
