"""A walk through the flow over HTTP, as the portal would do it (used by `qamqor demo`)."""

from __future__ import annotations

import time
import uuid
from datetime import date
from typing import Any, Callable

import httpx

from shared.calendar import Quarter, business_date, month_label
from shared.iin import make_iin


class GatewayClient:
    """A caller of the public API: client-credentials token, then bearer requests."""

    def __init__(self, gateway: str, client_id: str, secret: str) -> None:
        self.http = httpx.Client(base_url=gateway, timeout=10.0)
        response = self.http.post("/oauth/token", data={"grant_type": "client_credentials"},
                                  auth=(client_id, secret))
        response.raise_for_status()
        self.http.headers["Authorization"] = f"Bearer {response.json()['access_token']}"

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.get(path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.post(path, **kwargs)

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
    portal = next(c for c in callers if c["kind"] == "portal")
    client = GatewayClient(gateway, portal["id"], portal["secret"])
    serial = int(time.time()) % 5000
    grandmother = make_iin(date(1955, 2, 11), "female", serial)
    grandchild = make_iin(date(2022, 6, 1), "male", serial + 1)
    mother = make_iin(date(1994, 9, 3), "female", serial + 2)
    child = make_iin(date(2019, 4, 20), "female", serial + 3)
    with httpx.Client(base_url=sandbox) as sb:
        # the assessment quarter: the one before today's (in Almaty)
        months = [month_label(m) for m in Quarter.of(business_date()).previous().months()]
        sb.put(f"/sandbox/persons/{grandmother}", json={"incomes": [
            {"month": m, "type": "pension", "amount": "45000.00"} for m in months]}).raise_for_status()
        sb.put(f"/sandbox/persons/{grandchild}", json={"incomes": []}).raise_for_status()
        sb.put(f"/sandbox/persons/{mother}", json={"incomes": [
            {"month": m, "type": "wage", "amount": "30000.00"} for m in months]}).raise_for_status()
        sb.put(f"/sandbox/persons/{child}", json={"incomes": []}).raise_for_status()
    families = {
        "unconditional (grandmother, 71, with a grandchild)": [
            member(grandmother, "Aigul Demo", date(1955, 2, 11), "female", "applicant"),
            member(grandchild, "Arman Demo", date(2022, 6, 1), "male", "grandchild"),
        ],
        "conditional (mother, 32, with a daughter)": [
            member(mother, "Dana Demo", date(1994, 9, 3), "female", "applicant"),
            member(child, "Aru Demo", date(2019, 4, 20), "female", "child"),
        ],
    }
    for label, members in families.items():
        body = {"channel": "egov", "region_kato": "610000000", "settlement": "urban",
                "bank_account": {"iban": "KZ86125KZT5004100100", "bank_code": "HSBKKZKX"},
                "expense_check_consent": False, "members": members}
        created = client.post("/v1/applications", json=body, headers={"Idempotency-Key": str(uuid.uuid4())})
        created.raise_for_status()
        app_id = created.json()["id"]
        echo(f"\n{label}: application {app_id}")
        decided = client.wait_for(f"/v1/applications/{app_id}", lambda a: a["decision"] is not None)
        decision = decided["decision"]
        echo(f"  decision: eligible={decision['eligible']} kind={decision['kind']} "
             f"poverty line={decision['poverty_line']} per-capita income={decision['per_capita_income']}")
        echo(f"  reasons: {', '.join(decision['reasons'])}")
        if decision["eligible"] and decision["kind"] == "conditional":
            drafted = client.wait_for(f"/v1/applications/{app_id}", lambda a: a["contract_id"] is not None)
            echo(f"  social contract {drafted['contract_id']} drafted; signing it")
            client.post(f"/v1/contracts/{drafted['contract_id']}/sign").raise_for_status()
        if decision["eligible"]:
            payments = client.wait_for(f"/v1/payments?application_id={app_id}", lambda p: len(p) > 0)
            for p in payments:
                echo(f"  payment {p['month']}: TSA {p['tsa']} + child supplement {p['child_supplement']} = {p['total']} tenge")
