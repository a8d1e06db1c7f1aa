"""Who sees which family: the citizen the portal acts for sees the families they belong to, a
case worker those of the regions assigned to their caller, ops every family masked; FDC, bank
and admin callers read no family. A family the caller may not see is 404 (its existence is not
revealed), and lists are filtered. Every unmasked answer names whose data it carries."""

from __future__ import annotations

import uuid
from datetime import date

import pytest

from tests.conftest import SCOPES_ALL
from tests.support import application_body, person

DATA_SUBJECTS = "x-qamqor-data-subjects"

# Family A lives in Turkestan region (61), family B in Almaty city (75).
A = [person(date(1985, 3, 14), "female", "applicant", phone="+77011234567", full_name="Aigul Serikovna"),
     person(date(2016, 9, 1), "male", "child", full_name="Timur Serikuly")]
B = [person(date(1979, 11, 2), "male", "applicant", phone="+77077654321", full_name="Bolat Kairatuly")]
STRANGER = person(date(1990, 1, 1), "male", "applicant")["iin"]
MISTYPED = STRANGER[:-1] + str((int(STRANGER[-1]) + 1) % 10)  # the check digit no longer holds


def caller(internal_token, who: str) -> dict[str, str]:  # noqa: ANN001
    return {
        "citizen A": lambda: internal_token("portal", citizen=A[0]["iin"]),
        "citizen A's child": lambda: internal_token("portal", citizen=A[1]["iin"]),
        "citizen B": lambda: internal_token("portal", citizen=B[0]["iin"]),
        "portal alone": lambda: internal_token("portal"),
        "case worker 61": lambda: internal_token("case_worker", regions={"61"}),
        "case worker 75,71": lambda: internal_token("case_worker", regions={"75", "71"}),
        "case worker none": lambda: internal_token("case_worker"),
        "ops": lambda: internal_token("ops"),
        "fdc": lambda: internal_token("fdc"),
        "bank": lambda: internal_token("bank", bank_code="HSBKKZKX"),
        "admin": lambda: internal_token("admin"),
    }[who]()


@pytest.fixture
async def families(running_service, internal_token):  # noqa: ANN001, ANN201
    async with running_service("intake") as client:
        ids = {}
        for name, family, region in (("A", A, "610000000"), ("B", B, "750000000")):
            created = await client.post(
                "/v1/applications", json=application_body(family, region=region),
                headers=internal_token("portal", citizen=family[0]["iin"]) | {"Idempotency-Key": f"k-{name}"})
            assert created.status_code == 201, created.text
            ids[name] = created.json()["id"]
        yield client, ids


# who → (sees A, sees B, masked, phones in clear); a status instead: every read is refused so.
VIEWS = {
    "citizen A": (True, False, False, True),
    "citizen A's child": (True, False, False, True),
    "citizen B": (False, True, False, True),
    "case worker 61": (True, False, False, False),
    "case worker 75,71": (False, True, False, False),
    "case worker none": (False, False, False, False),
    "ops": (True, True, True, False),
    "portal alone": 403,
    "fdc": 403,
    "bank": 403,
    "admin": 403,
}


@pytest.mark.parametrize("who", VIEWS)
async def test_each_caller_reads_only_the_families_its_job_needs(families, internal_token, who):
    client, ids = families
    headers = caller(internal_token, who)
    view = VIEWS[who]
    one = {name: await client.get(f"/v1/applications/{ids[name]}", headers=headers) for name in ids}
    listed = await client.get("/v1/applications", headers=headers)
    if isinstance(view, int):
        for response in (*one.values(), listed):
            assert response.status_code == view, response.text
            assert response.headers["content-type"] == "application/problem+json"
            assert DATA_SUBJECTS not in response.headers
        if who == "portal alone":
            assert listed.json()["type"].endswith("/citizen-token-required")
        return
    sees_a, sees_b, masked, phones = view
    family_of = {"A": A, "B": B}
    for name, sees in (("A", sees_a), ("B", sees_b)):
        response = one[name]
        if not sees:
            assert response.status_code == 404 and DATA_SUBJECTS not in response.headers
            continue
        assert response.status_code == 200, response.text
        application = response.json()
        family = family_of[name]
        assert application["masked"] is masked
        applicant = application["members"][0]
        if masked:
            assert applicant["iin"] == family[0]["iin"][:4] + "******" + family[0]["iin"][-2:]
            assert applicant["birth_date"] is None and "." in applicant["full_name"]
            for member in family:
                assert member["iin"] not in response.text and member["full_name"] not in response.text
                assert member["birth_date"] not in response.text
            assert DATA_SUBJECTS not in response.headers  # nothing personal was read
        else:
            assert applicant["iin"] == family[0]["iin"] and applicant["birth_date"] == family[0]["birth_date"]
            assert response.headers[DATA_SUBJECTS] == ",".join(m["iin"] for m in family)
        assert applicant["phone"] == (family[0]["phone"] if phones else family[0]["phone"][:5] + "*****"
                                      + family[0]["phone"][-2:])
        assert family[0]["phone"] not in response.text or phones
    assert listed.status_code == 200
    assert [a["id"] for a in listed.json()] == [ids[n] for n, sees in (("B", sees_b), ("A", sees_a)) if sees]


async def test_a_person_s_applications_within_the_callers_view(families, internal_token):
    client, ids = families

    async def search(who: str, iin: str) -> list[str]:
        response = await client.get("/v1/applications", params={"iin": iin}, headers=caller(internal_token, who))
        assert response.status_code == 200, response.text
        return [a["id"] for a in response.json()]

    assert await search("case worker 61", A[1]["iin"]) == [ids["A"]]
    assert await search("case worker 61", B[0]["iin"]) == []  # B is not in their regions
    assert await search("citizen A", A[1]["iin"]) == [ids["A"]]  # a member of the citizen's own family
    assert await search("citizen A", B[0]["iin"]) == []
    assert await search("case worker 75,71", STRANGER) == []  # nobody's
    # Ops see every family masked: a search by IIN would say whose each masked family is.
    refused = await client.get("/v1/applications", params={"iin": A[0]["iin"]}, headers=caller(internal_token, "ops"))
    assert refused.status_code == 403 and refused.json()["errors"][0]["field"] == "query.iin"
    assert A[0]["iin"] not in refused.text


@pytest.mark.parametrize("query, field", [
    ({"status": "approved; drop table"}, "query.status"),
    ({"status": "paid"}, "query.status"),
    ({"region_kato": "611010000"}, "query.region_kato"),  # a Turkestan prefix, not a classifier code
    ({"region_kato": "61"}, "query.region_kato"),
    ({"iin": MISTYPED}, "query.iin"),
    ({"iin": "9001013000"}, "query.iin"),
    ({"limit": "0"}, "query.limit"),
    ({"limit": "501"}, "query.limit"),
    ({"limit": "ten"}, "query.limit"),
    ({"status": "submitted\x00"}, "query.status"),
])
async def test_list_filters_are_typed_and_bounded(families, internal_token, query, field):
    client, _ = families
    response = await client.get("/v1/applications", params=query, headers=caller(internal_token, "ops"))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert field in [e["field"] for e in response.json()["errors"]]


async def test_list_filters_narrow_the_view(families, internal_token):
    client, ids = families
    ops = caller(internal_token, "ops")

    async def listed(**query: str) -> list[str]:
        response = await client.get("/v1/applications", params=query, headers=ops)
        assert response.status_code == 200, response.text
        return [a["id"] for a in response.json()]

    assert await listed(region_kato="750000000") == [ids["B"]]
    assert await listed(status="submitted", limit="1") == [ids["B"]]
    assert await listed(status="rejected") == []


async def test_only_the_citizen_who_is_the_applicant_submits(running_service, internal_token):
    family = [person(date(1988, 1, 20), "female", "applicant"), person(date(2019, 4, 4), "female", "child")]
    body = application_body(family)
    async with running_service("intake") as client:
        async def submit(headers: dict[str, str]):  # noqa: ANN202
            return await client.post("/v1/applications", json=body,
                                     headers=headers | {"Idempotency-Key": str(uuid.uuid4())})

        alone = await submit(internal_token("portal"))
        assert alone.status_code == 403 and alone.json()["type"].endswith("/citizen-token-required")
        for citizen in (family[1]["iin"], B[0]["iin"]):  # the family's child; a stranger
            refused = await submit(internal_token("portal", citizen=citizen))
            assert refused.status_code == 403 and refused.json()["type"].endswith("/not-the-applicant")
            assert [e["field"] for e in refused.json()["errors"]] == ["members"]
            assert citizen not in refused.text
        # Another kind of caller never submits, whatever its scopes.
        for kind in ("fdc", "case_worker", "ops", "admin"):
            refused = await submit(internal_token(kind, SCOPES_ALL, citizen=family[0]["iin"]))
            assert refused.status_code == 403 and refused.json()["type"].endswith("/portal-only"), kind
        # Refused before the body is read: a caller without a citizen learns nothing from validation.
        assert (await client.post("/v1/applications", json={"members": []},
                                  headers=internal_token("portal") | {"Idempotency-Key": "k"})).status_code == 403
        accepted = await submit(internal_token("portal", citizen=family[0]["iin"]))
        assert accepted.status_code == 201, accepted.text


async def test_an_idempotency_key_is_the_citizens_own(running_service, internal_token):
    """One portal acts for many citizens: another citizen's request with the same key is its own
    request, never a replay of the first citizen's answer."""
    first, second = [person(date(1991, 2, 2), "male", "applicant")], [person(date(1992, 3, 3), "female", "applicant")]
    async with running_service("intake") as client:
        a = await client.post("/v1/applications", json=application_body(first),
                              headers=internal_token("portal", citizen=first[0]["iin"]) | {"Idempotency-Key": "same"})
        b = await client.post("/v1/applications", json=application_body(second),
                              headers=internal_token("portal", citizen=second[0]["iin"]) | {"Idempotency-Key": "same"})
        assert (a.status_code, b.status_code) == (201, 201)
        assert a.json()["id"] != b.json()["id"] and first[0]["iin"] not in b.text
