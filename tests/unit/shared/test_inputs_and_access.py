"""Input hygiene and family access, as every service applies them (shared/inputs.py, shared/access.py)."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from pydantic import ValidationError

from shared.access import (
    DATA_SUBJECTS_HEADER, DataSubjectsMiddleware, family_access, mask_name, mask_phone, note_data_subjects,
)
from shared.errors import Forbidden, PROBLEM_JSON, install_error_handlers
from shared.identity import Caller, InternalTokenVerifier, generate_ed25519_pem, mint_internal_token
from shared.inputs import InputHygieneMiddleware, InputModel


class Member(InputModel):
    full_name: str
    notes: list[str] = []


class Family(InputModel):
    members: list[Member]


@pytest.mark.parametrize("bad", ["A\x00", "tab\there", "bell\x07", "del\x7f", "c1\x85"])
def test_a_control_character_is_refused_naming_the_field(bad: str) -> None:
    with pytest.raises(ValidationError) as refused:
        Family.model_validate({"members": [{"full_name": "Aigul"}, {"full_name": bad}]})
    assert [e["loc"] for e in refused.value.errors()] == [("members", 1, "full_name")]
    with pytest.raises(ValidationError):
        Member.model_validate({"full_name": "ok", "notes": ["fine", bad]})


def test_ordinary_text_in_any_script_passes() -> None:
    family = Family.model_validate({"members": [{"full_name": "Әйгерім Сейітқызы"}, {"full_name": "O'Neil-Smith"}]})
    assert family.members[0].full_name == "Әйгерім Сейітқызы"
    with pytest.raises(ValidationError):
        Member.model_validate({"full_name": "x", "unknown": 1})


def _app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    app.add_middleware(DataSubjectsMiddleware)
    app.add_middleware(InputHygieneMiddleware)

    @app.post("/families")
    async def create(family: Family) -> dict:
        note_data_subjects(["550211400017", "550211400017", "791028302728"])
        return {"members": len(family.members)}

    @app.get("/families")
    async def search(name: str = "") -> dict:
        return {"name": name}

    return app


async def _client() -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=_app()), base_url="http://service")


async def test_the_data_subjects_of_an_answer_travel_in_a_header_each_once() -> None:
    async with await _client() as client:
        answer = await client.post("/families", json={"members": [{"full_name": "Aigul"}]})
        assert answer.status_code == 200
        assert answer.headers[DATA_SUBJECTS_HEADER] == "550211400017,791028302728"
        assert DATA_SUBJECTS_HEADER not in (await client.get("/families")).headers


@pytest.mark.parametrize("query, field", [("name=%00", "query.name"), ("name=a%0Ab", "query.name"),
                                          ("na%01me=x", "query.?")])
async def test_a_control_character_in_the_query_is_422(query: str, field: str) -> None:
    async with await _client() as client:
        answer = await client.get(f"/families?{query}")
    assert answer.status_code == 422
    assert answer.headers["content-type"] == PROBLEM_JSON
    assert [e["field"] for e in answer.json()["errors"]] == [field]


async def test_a_control_character_in_the_path_is_422() -> None:
    async with await _client() as client:
        answer = await client.get("/families%00")
    assert answer.status_code == 422 and answer.json()["errors"][0]["field"] == "path"


async def test_a_body_that_is_not_json_is_415_and_malformed_json_is_400_with_the_position() -> None:
    async with await _client() as client:
        form = await client.post("/families", content=b"members=1", headers={"content-type": "text/plain"})
        assert form.status_code == 415 and form.headers["content-type"] == PROBLEM_JSON
        missing = await client.post("/families", content=b'{"members": []}')
        assert missing.status_code == 415
        broken = await client.post("/families", content=b'{"members": [}', headers={"content-type": "application/json"})
        assert broken.status_code == 400
        problem = broken.json()
        assert problem["errors"][0]["field"] == "body" and problem["errors"][0]["position"] == 13
        assert "position 13" in problem["detail"]
        nul = await client.post("/families", json={"members": [{"full_name": "A\u0000"}]})
        assert nul.status_code == 422
        assert nul.json()["errors"][0]["field"] == "members[0].full_name"
        ok = await client.post("/families", json={"members": []}, headers={"content-type": "application/problem+json"})
        assert ok.status_code == 200


def test_family_access_by_caller() -> None:
    citizen = family_access(Caller("portal-1", "portal", citizen_iin="550211400017"))
    assert citizen.may_see(["791028302728", "550211400017"], "610000000")
    assert not citizen.may_see(["791028302728"], "610000000")
    case_worker = family_access(Caller("cw", "case_worker", regions=frozenset({"61", "79"})))
    assert case_worker.may_see([], "611010000") and not case_worker.may_see([], "750000000")
    ops = family_access(Caller("ops", "ops"))
    assert ops.masked and ops.may_see(["x"], "750000000")
    for kind in ("fdc", "bank", "admin", "sms_gateway"):
        with pytest.raises(Forbidden):
            family_access(Caller("x", kind))
    with pytest.raises(Forbidden) as unbound:
        family_access(Caller("portal-1", "portal"))
    assert unbound.value.slug == "citizen-token-required"


def test_masks() -> None:
    assert mask_name("Aigul  Serikovna Nurlanovna") == "A. S. N."
    assert mask_phone("+77011234567") == "+7701*****67"
    assert mask_phone(None) is None


def test_the_internal_token_carries_the_citizen_and_the_regions() -> None:
    private, public = generate_ed25519_pem()
    caller = Caller("portal-1", "portal", frozenset({"applications:read"}), citizen_iin="550211400017",
                    regions=frozenset())
    assert InternalTokenVerifier(public).verify(mint_internal_token(private, caller, "r")) == caller
    worker = Caller("cw", "case_worker", frozenset({"applications:read"}), regions=frozenset({"61", "79"}))
    assert InternalTokenVerifier(public).verify(mint_internal_token(private, worker, "r")) == worker
