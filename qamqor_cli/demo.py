"""A walk through the flow over HTTP, as the portal would do it (used by `qamqor demo`): each
family's applicant signs in at eGov IDP (the sandbox plays it), the portal exchanges its token and
the applicant's assertion for a token acting for the applicant (RFC 8693), and submits, follows
and signs as that citizen."""

from __future__ import annotations

import re
import time
import uuid
from datetime import date
from typing import Any, Callable

import httpx

from sandbox.idp import SIGN_IN_PATH
from shared.calendar import Quarter, business_date, month_label
from shared.iin import make_iin

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ID_TOKEN = "urn:ietf:params:oauth:token-type:id_token"
ACCESS_TOKEN = "urn:ietf:params:oauth:token-type:access_token"
# A Halyk Bank account (bank code 601 in the IBAN: HSBKKZKX).
DEMO_BANK_ACCOUNT = {"iban": "KZ20601KZT5004100100", "bank_code": "HSBKKZKX"}


class GatewayClient:
    """A caller of the public API: a client-credentials token (or one acting for a citizen),
    then bearer requests."""

    def __init__(self, gateway: str, client_id: str | None = None, secret: str | None = None, *,
                 token: str | None = None) -> None:
        self.gateway = gateway
        self.http = httpx.Client(base_url=gateway, timeout=10.0)
        if token is None:
            response = self.http.post("/oauth/token", data={"grant_type": "client_credentials"},
                                      auth=(client_id or "", secret or ""))
            response.raise_for_status()
            token = response.json()["access_token"]
        self.token = token
        self.http.headers["Authorization"] = f"Bearer {token}"

    def acting_for(self, iin: str, idp: str) -> "GatewayClient":
        """This portal acting for the citizen `iin`: the citizen signs in at the IDP (`idp`: the
        sandbox's base URL), and the assertion is exchanged for a token (RFC 8693)."""
        signed_in = httpx.post(idp.rstrip("/") + SIGN_IN_PATH, json={"iin": iin}, timeout=10.0)
        signed_in.raise_for_status()
        # The token endpoint takes no bearer token: the portal's token goes in the form, as actor_token.
        response = httpx.post(self.gateway.rstrip("/") + "/oauth/token", timeout=10.0, data={
            "grant_type": TOKEN_EXCHANGE, "subject_token": signed_in.json()["id_token"],
            "subject_token_type": ID_TOKEN, "actor_token": self.token, "actor_token_type": ACCESS_TOKEN})
        response.raise_for_status()
        return GatewayClient(self.gateway, token=response.json()["access_token"])

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.get(path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.post(path, **kwargs)

    def close(self) -> None:
        self.http.close()

    def wait_for(self, path: str, ready: Callable[[Any], bool], timeout: float = 20.0) -> Any:
        deadline = time.monotonic() + timeout
        body: Any = None
        while time.monotonic() < deadline:
            response = self.get(path)
            if response.status_code == 200:
                body = response.json()
                if ready(body):
                    return body
            time.sleep(0.2)
        raise TimeoutError(f"{path} did not reach the expected state in {timeout}s; last: {body}")


def member(iin: str, name: str, birth: date, sex: str, relation: str, **extra: Any) -> dict[str, Any]:
    return {"iin": iin, "full_name": name, "birth_date": birth.isoformat(), "sex": sex, "relation": relation,
            "employed": False, "full_time_student": False, "disability_group": None, "carer": False} | extra


def run_demo(gateway: str, sandbox: str, callers: list[dict], echo: Callable[[str], None] = print) -> None:
    portal_caller = next(c for c in callers if c["kind"] == "portal")
    portal = GatewayClient(gateway, portal_caller["id"], portal_caller["secret"])
    serial = int(time.time()) % 5000
    grandmother = make_iin(date(1955, 2, 11), "female", serial)
    grandchild = make_iin(date(2022, 6, 1), "male", serial + 1)
    mother = make_iin(date(1994, 9, 3), "female", serial + 2)
    child = make_iin(date(2019, 4, 20), "female", serial + 3)
    father = make_iin(date(1990, 11, 12), "male", serial + 4)
    father_phone = f"+7701{serial:04d}{serial % 997:03d}"
    with httpx.Client(base_url=sandbox) as sb:
        # the assessment quarter: the one before today's (in Almaty)
        months = [month_label(m) for m in Quarter.of(business_date()).previous().months()]
        sb.put(f"/sandbox/persons/{grandmother}", json={"incomes": [
            {"month": m, "type": "pension", "amount": "45000.00"} for m in months]}).raise_for_status()
        sb.put(f"/sandbox/persons/{mother}", json={"incomes": [
            {"month": m, "type": "wage", "amount": "30000.00"} for m in months]}).raise_for_status()
        for iin in (grandchild, child, father):
            sb.put(f"/sandbox/persons/{iin}", json={"incomes": []}).raise_for_status()
        # The expense check (issue 10): nobody bought a home or a car; the father banks at Halyk,
        # whose aggregates stay under every threshold; the others hold no account.
        for iin in (grandmother, grandchild, mother, child, father):
            sb.put(f"/sandbox/persons/{iin}/purchases", json={"purchases": []}).raise_for_status()
            sb.put(f"/sandbox/persons/{iin}/accounts", json={"banks": ["HSBKKZKX"] if iin == father else []},
                   ).raise_for_status()
        sb.put(f"/sandbox/banks/HSBKKZKX/persons/{father}", json={
            "total_spending": "120000.00", "non_mortgage_loans": "0.00", "savings_deposits": "15000.00"},
        ).raise_for_status()
    families = {
        "unconditional (grandmother, 71, with a grandchild)": [
            member(grandmother, "Aigul Demo", date(1955, 2, 11), "female", "applicant"),
            member(grandchild, "Arman Demo", date(2022, 6, 1), "male", "grandchild"),
        ],
        "conditional (mother, 32, father, 36, with a daughter)": [
            member(mother, "Dana Demo", date(1994, 9, 3), "female", "applicant"),
            member(father, "Timur Demo", date(1990, 11, 12), "male", "spouse", phone=father_phone),
            member(child, "Aru Demo", date(2019, 4, 20), "female", "child"),
        ],
    }
    for label, members in families.items():
        # The applicant signs in at eGov; the portal acts for her from here on. She consents to
        # the expense check when applying; every other adult is asked by SMS from 1414.
        citizen = portal.acting_for(members[0]["iin"], sandbox)
        body = {"channel": "egov", "region_kato": "610000000", "settlement": "urban",
                "bank_account": DEMO_BANK_ACCOUNT, "expense_check_consent": True, "members": members}
        created = citizen.post("/v1/applications", json=body, headers={"Idempotency-Key": str(uuid.uuid4())})
        created.raise_for_status()
        app_id = created.json()["id"]
        echo(f"\n{label}: application {app_id} (submitted by the applicant, signed in at eGov)")
        _walk_consents(citizen, sandbox, app_id, members, echo)
        decided = citizen.wait_for(f"/v1/applications/{app_id}", lambda a: a["decision"] is not None)
        decision = decided["decision"]
        evidence = citizen.get(f"/v1/verifications/{app_id}").json()
        expenses = evidence.get("expenses") or {}
        for answer in evidence.get("bank_answers", []):
            echo(f"  bank {answer['bank_code']} answered (signed callback through the gateway) at {answer['answered_at']}")
        echo(f"  expense check: consent={expenses.get('consent')} spending={expenses.get('account_spending')} "
             f"loans={expenses.get('non_mortgage_loans')} deposits={expenses.get('savings_deposits')} "
             f"purchases={len(expenses.get('purchases', []))}")
        echo(f"  decision: eligible={decision['eligible']} kind={decision['kind']} "
             f"poverty line={decision['poverty_line']} per-capita income={decision['per_capita_income']}")
        echo(f"  reasons: {', '.join(decision['reasons'])}")
        if decision["eligible"] and decision["kind"] == "conditional":
            drafted = citizen.wait_for(f"/v1/applications/{app_id}", lambda a: a["contract_id"] is not None)
            echo(f"  social contract {drafted['contract_id']} drafted; the applicant signs it")
            citizen.post(f"/v1/contracts/{drafted['contract_id']}/sign").raise_for_status()
        if decision["eligible"]:
            payments = citizen.wait_for(f"/v1/payments?application_id={app_id}", lambda p: len(p) > 0)
            for p in payments:
                echo(f"  payment {p['month']}: TSA {p['tsa']} + child supplement {p['child_supplement']} = {p['total']} tenge")
        citizen.close()
    portal.close()


def _walk_consents(citizen: GatewayClient, sandbox: str, app_id: str, members: list[dict], echo: Callable[[str], None],
                   timeout: float = 30.0) -> None:
    """Each adult's consent to the expense check: the applicant's given when applying; each
    other adult gets the SMS from 1414 (the sandbox's SMS gateway) and replies ДА with its code,
    which the sandbox posts to the gateway's /v1/sms/inbound as the SMS gateway would."""
    shown = citizen.get(f"/v1/applications/{app_id}").json()
    phones = {m["iin"]: m.get("phone") for m in members}
    with httpx.Client(base_url=sandbox) as sb:
        for m in shown["members"]:
            consent = m["consent"]
            if consent is None:
                continue
            if consent["status"] == "granted":
                echo(f"  consent of the {m['relation']}: given in the portal when applying")
                continue
            deadline = time.monotonic() + timeout
            while not (sent := [x for x in sb.get("/sandbox/sms/messages").json() if x["reference"] == consent["id"]]):
                if time.monotonic() > deadline:
                    raise RuntimeError("no SMS from 1414 within the time allowed")
                time.sleep(0.2)
            code = re.search(r"ДА (\d{6})", sent[-1]["text"]).group(1)  # type: ignore[union-attr]
            echo(f"  SMS from {sent[-1]['sender']} to the {m['relation']} ({consent['phone']}); the reply: ДА ******")
            reply = sb.post("/sandbox/sms/reply", json={"from": phones[m["iin"]], "text": f"ДА {code}"})
            reply.raise_for_status()
            echo(f"  consent of the {m['relation']}: {reply.json()['outcome']}")
