"""The ops dashboard in headless Chromium against the real platform (issue 13, point 4): an ops
caller signs in with its client credentials, the page shows the figures the API gives the same
caller (`GET /v1/stats/dashboard` with a bearer token), the region filter and the language switch
work, it refreshes itself, and a screenshot is left for a person to read. A wrong secret, or
another kind's credentials, show an error and no data."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Page

from tests.browser.conftest import SHYMKENT, TURKESTAN, caller_of

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

HEADLINE = ("applications", "decided", "approved", "rejected", "undecided", "withdrawn", "recipient_families",
            "recipient_people", "amount_assigned", "amount_paid")
MONEY = {"amount_assigned", "amount_paid"}
TITLES = {"ru": "Адресная социальная помощь — мониторинг", "kk": "Атаулы әлеуметтік көмек — мониторинг",
          "en": "Targeted social assistance — monitoring"}
APPLICATIONS = {"ru": "Заявления", "kk": "Өтініштер", "en": "Applications"}


def kz(amount: int, money: bool = False) -> str:
    """Kazakhstan's way: a space between thousands (any space character), ₸ after an amount."""
    text = f"{amount:,}".replace(",", " ")
    return text + " ₸" if money else text


def spaces(text: str) -> str:
    return re.sub(r"[\u00a0\u202f ]", " ", text).strip()


def watch(page: Page) -> list[str]:
    """Console errors and CSP violations the page reports."""
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    return problems


def sign_in(page: Page, client_id: str, secret: str) -> None:
    page.goto("/dashboard")
    page.wait_for_selector("#sign-in-form", state="visible")
    page.fill("#client-id", client_id)
    page.fill("#client-secret", secret)
    page.click("#sign-in-button")


def loads(page: Page) -> int:
    return int(page.evaluate("Number(document.body.dataset.loaded || 0)"))


def wait_for_load_after(page: Page, count: int) -> None:
    page.wait_for_function("n => Number(document.body.dataset.loaded || 0) > n", arg=count)


def shown_headline(page: Page) -> dict[str, tuple[int, str]]:
    cards = page.eval_on_selector_all("#headline .card", """cards => cards.map(c => [c.dataset.key,
        c.querySelector('.value').dataset.value, c.querySelector('.value').textContent])""")
    return {key: (int(value), spaces(text)) for key, value, text in cards}


def the_page_shows_the_apis_figures(page: Page, ops, params: dict[str, str]) -> dict[str, Any]:
    """The headline on the page equals the API's for the same filters, every figure formatted for
    Kazakhstan. Reporting may still be projecting a late event: then the page is refreshed (by
    re-applying its filter) and compared with the API again."""
    for _ in range(20):
        expected = ops.get("/v1/stats/dashboard", params=params).json()
        shown = shown_headline(page)
        if {key: value for key, (value, _) in shown.items()} == {key: expected["headline"][key] for key in HEADLINE}:
            break
        count = loads(page)
        page.dispatch_event("#region", "change")
        wait_for_load_after(page, count)
    assert {key: value for key, (value, _) in shown.items()} == {key: expected["headline"][key] for key in HEADLINE}
    assert {key: text for key, (_, text) in shown.items()} == {
        key: kz(expected["headline"][key], key in MONEY) for key in HEADLINE}
    return expected


def test_ops_signs_in_and_sees_the_apis_figures_by_region_and_in_three_languages(
        context, platform, ops, figures, artifacts) -> None:
    caller = caller_of(platform, "ops")
    page = context.new_page()
    problems = watch(page)
    sign_in(page, caller["id"], caller["secret"])
    page.wait_for_selector("body[data-loaded]")
    assert page.is_hidden("#sign-in") and page.is_visible("#board")

    # The token is in an HttpOnly cookie: the page's script cannot read it and the page never holds it.
    [cookie] = context.cookies()
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/dashboard"
    assert page.evaluate("document.cookie") == ""
    token = cookie["value"].split(".", 2)[2]
    assert token not in page.content()

    everything = the_page_shows_the_apis_figures(page, ops, {})
    assert everything["headline"]["applications"] == 6 and everything["headline"]["rejected"] == 1
    assert everything["headline"]["undecided"] == 1 and everything["fdc_funnel"]["totals"]["invited"] == 1
    assert everything["headline"]["amount_assigned"] > 100_000  # six figures: the separator shows
    assert " " in spaces(page.text_content('[data-key="amount_assigned"] .value'))
    assert page.text_content("#as-of") != "—"
    # The charts are drawn (plotly, served by the gateway) and the oldest-applications table is there.
    for chart in ("chart-regions", "chart-settlement", "chart-status", "chart-funnel", "chart-banks"):
        assert page.locator(f"#{chart} .main-svg").count() >= 1, chart
    # The backlog: its total, and the oldest applications (no personal data: id, region, stage).
    assert page.get_attribute("#backlog-total", "data-value") == str(everything["backlog"]["total"]) == "1"
    # The quarter's turn: the families reassessment runs extended and ended, as the API counts them.
    assert page.get_attribute("#extensions-total", "data-value") == str(everything["extensions"]["extended"])
    assert page.get_attribute("#extensions-total", "data-ended") == str(everything["extensions"]["ended"])
    assert page.locator("#chart-extensions .main-svg, #chart-extensions .empty").count() >= 1
    rows = page.eval_on_selector_all("#oldest tbody tr", "rows => rows.map(r => r.title)")
    assert rows == [item["application_id"] for item in everything["backlog"]["oldest"]]
    page.screenshot(path=str(artifacts / "dashboard-ru.png"), full_page=True)

    # Turkestan region only: the API's figures for that region, not the country's.
    count = loads(page)
    page.select_option("#region", TURKESTAN)
    wait_for_load_after(page, count)
    turkestan = the_page_shows_the_apis_figures(page, ops, {"region_kato": TURKESTAN})
    assert turkestan["headline"]["applications"] == 4 < everything["headline"]["applications"]
    count = loads(page)
    page.select_option("#region", SHYMKENT)
    wait_for_load_after(page, count)
    assert the_page_shows_the_apis_figures(page, ops, {"region_kato": SHYMKENT})["headline"]["applications"] == 2

    # A quarter (the period the benefit is for), as the page offers them.
    quarters = page.eval_on_selector_all("#quarter option", "os => os.map(o => o.value)")
    assert quarters[0] == "" and len(quarters) > 2
    count = loads(page)
    page.select_option("#quarter", quarters[2])  # this quarter (the next one comes first)
    wait_for_load_after(page, count)
    the_page_shows_the_apis_figures(page, ops, {"quarter": quarters[2], "region_kato": SHYMKENT})
    count = loads(page)
    page.select_option("#quarter", "")
    wait_for_load_after(page, count)

    # Kazakh: labels, the region names from the data; and the choice is remembered.
    names = {r["region_kato"]: r["name"] for r in everything["regions"]}
    page.select_option("#lang", "kk")
    assert page.text_content("h1") == TITLES["kk"]
    assert page.text_content('[data-key="applications"] .label') == APPLICATIONS["kk"]
    assert page.eval_on_selector("#region", "s => s.options[s.selectedIndex].text") == names[SHYMKENT]["kk"]
    assert page.evaluate("document.documentElement.lang") == "kk"
    page.screenshot(path=str(artifacts / "dashboard-kk-shymkent.png"), full_page=True)

    page.reload()
    page.wait_for_selector("body[data-loaded]")  # still signed in: the cookie
    assert page.text_content("h1") == TITLES["kk"]
    the_page_shows_the_apis_figures(page, ops, {})

    page.select_option("#lang", "en")
    assert page.text_content("h1") == TITLES["en"]
    assert page.text_content('[data-key="applications"] .label') == APPLICATIONS["en"]
    page.select_option("#region", "")
    assert problems == []


def test_the_page_refreshes_itself(context, platform, ops, figures) -> None:
    caller = caller_of(platform, "ops")
    page = context.new_page()
    page.clock.install()
    sign_in(page, caller["id"], caller["secret"])
    page.wait_for_selector("body[data-loaded]")
    count = loads(page)
    page.clock.fast_forward(31_000)  # the page's clock: the next refresh is due (every 30 s)
    wait_for_load_after(page, count)
    the_page_shows_the_apis_figures(page, ops, {})


def test_a_wrong_secret_shows_an_error_and_no_data(context, platform) -> None:
    caller = caller_of(platform, "ops")
    page = context.new_page()
    data_requests: list[str] = []
    page.on("request", lambda r: data_requests.append(r.url) if "/dashboard/data" in r.url else None)
    sign_in(page, caller["id"], caller["secret"] + "x")
    page.wait_for_selector("#sign-in-error", state="visible")
    assert page.text_content("#sign-in-error") == "Неверный идентификатор или секрет."
    assert page.get_attribute("#sign-in-error", "data-status") == "401"
    assert page.is_hidden("#board") and page.is_visible("#sign-in")
    assert data_requests == [] and context.cookies() == []
    assert all(text == "" for text in page.eval_on_selector_all("#headline .value", "els => els.map(e => e.textContent)"))
    # Asked directly, the data endpoint gives this browser nothing.
    assert page.evaluate("fetch('/dashboard/data').then(r => r.status)") == 401


def test_another_kind_of_caller_is_refused(context, platform) -> None:
    portal = caller_of(platform, "portal")
    page = context.new_page()
    sign_in(page, portal["id"], portal["secret"])
    page.wait_for_selector("#sign-in-error", state="visible")
    assert page.get_attribute("#sign-in-error", "data-status") == "403"
    assert page.is_hidden("#board") and context.cookies() == []
    assert page.evaluate("fetch('/dashboard/data').then(r => r.status)") == 401


def test_sign_out_leaves_nothing(context, platform, figures) -> None:
    caller = caller_of(platform, "ops")
    page = context.new_page()
    sign_in(page, caller["id"], caller["secret"])
    page.wait_for_selector("body[data-loaded]")
    page.click("#sign-out")
    page.wait_for_selector("#sign-in-form", state="visible")
    assert page.is_hidden("#board") and context.cookies() == []
    assert page.evaluate("fetch('/dashboard/data').then(r => r.status)") == 401
    page.reload()
    page.wait_for_selector("#sign-in-form", state="visible")
