"""`qamqor reassess`: starts the quarter's run through the gateway and follows it to its end with a
progress bar (families/s and ETA), then prints its totals; a failed run says why."""

from __future__ import annotations

import io

import httpx
from rich.console import Console

from qamqor_cli.reassess import follow


def run(status: str, done: int, phase: str = "deciding", error: str | None = None) -> dict:
    return {"id": "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", "quarter": "2027-Q1", "ending_quarter": "2026-Q4",
            "status": status, "error": error, "started_at": "2026-12-20T05:00:00Z", "updated_at": "2026-12-20T05:00:01Z",
            "finished_at": None, "progress": {"phase": phase, "families_total": 1000, "families_done": done,
                                              "chunks_done": done // 100},
            "totals": {"extended": done - done // 10, "ended": {"INCOME_NOT_BELOW_POVERTY_LINE": done // 10},
                       "review": {"member_in_another_family": 3}, "amount": 123_456_789,
                       "amounts_by_region": [{"region_kato": "610000000", "families": done - done // 10,
                                              "amount": 123_456_789}]}}


def test_it_starts_the_run_and_follows_it_to_the_end():
    answers = iter([run("running", 0, "counting"), run("running", 400), run("completed", 1000, "done")])
    seen: list[tuple[str, str, bytes]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.method, request.url.path, request.content))
        return httpx.Response(202 if request.method == "POST" else 200, json=next(answers))

    out = io.StringIO()
    with httpx.Client(transport=httpx.MockTransport(handler), base_url="http://gateway") as http:
        final = follow(http, "2027-Q1", poll=0, console=Console(file=out, width=120), sleep=lambda _: None)
    assert final["status"] == "completed"
    assert seen[0] == ("POST", "/v1/reassessments", b'{"quarter":"2027-Q1"}')
    assert [s[:2] for s in seen[1:]] == [("GET", "/v1/reassessments/0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b")] * 2
    text = out.getvalue()
    assert "2026-Q4 → 2027-Q1" in text and "1000/1000" in text and "families/s" in text and "ETA" in text
    assert "Extended: 900 families, 123,456,789 tenge" in text and "INCOME_NOT_BELOW_POVERTY_LINE 100" in text
    assert "610000000" in text


def test_a_failed_run_says_why_and_how_to_go_on():
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=run("failed", 0, error="no value of parameter 'mci' valid on 2027-01-01"))

    out = io.StringIO()
    with httpx.Client(transport=httpx.MockTransport(handler), base_url="http://gateway") as http:
        final = follow(http, "2027-Q1", console=Console(file=out, width=200), sleep=lambda _: None)
    assert final["status"] == "failed"
    assert "no value of parameter 'mci'" in out.getvalue() and "resumes where it stopped" in out.getvalue()
