"""A walk through the flow over HTTP, as the portal would do it (used by `qamqor demo`): each
family's applicant signs in at eGov IDP (the sandbox plays it), the portal exchanges its token and
the applicant's assertion for a token acting for the applicant (RFC 8693), and submits, follows
and signs as that citizen."""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import re
import secrets
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, timedelta
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


# ==== `qamqor demo --families N`: a realistic spread through the real flow ===========================
#
# The families are generated by a pure function (`generate_families`, tested on its own) with the
# spread of seed 003 (rules.md, "Figures"): recipients by region — Turkestan 20.3 %, Shymkent
# 11.3 %, Kyzylorda 8.2 %, Almaty region 7.9 %, Zhambyl 7.5 %, Zhetysu 7 % (62.2 % together; the
# other 37.8 % are spread over the other regions by an assumption of ours, below); 55 % urban;
# 5.3 people per family, two thirds of them children; the adults' social statuses in seed 003's
# proportions (employed at application 14.3 %, carers 12.2 %, students 3.9 %, unemployed 1.4 %,
# other 1.6 % of all recipients). Then `run_families` walks them through the gateway as the portal,
# the FDC, the SMS replies and the banks would.

REGION_SHARES: dict[str, float] = {
    # seed 003
    "610000000": 20.3, "790000000": 11.3, "430000000": 8.2, "190000000": 7.9, "310000000": 7.5, "330000000": 7.0,
    # the remaining 37.8 %: our assumption, roughly by population and poverty
    "470000000": 5.0, "750000000": 4.6, "710000000": 3.6, "150000000": 3.2, "100000000": 3.0, "630000000": 3.0,
    "350000000": 2.8, "230000000": 2.2, "270000000": 2.0, "390000000": 2.0, "550000000": 1.8, "110000000": 1.8,
    "590000000": 1.6, "620000000": 1.2,
}
# The cities of republican significance are all urban; elsewhere a family is urban with the
# probability that brings the whole to 55 %.
CITIES = frozenset({"710000000", "750000000", "790000000"})
URBAN_SHARE = 0.55
# Children per family (0–8): 3.53 on average, so that with 1.77 adults a family has 5.3 people
# and children are two thirds of them (seed 003: 66.6 %).
CHILDREN_WEIGHTS = (0.03, 0.10, 0.15, 0.24, 0.21, 0.13, 0.08, 0.04, 0.02)
SPOUSE_SHARE = 0.70
GRANDPARENT_SHARE = 0.07
# The status of the applicant and the spouse, so that over all recipients the statuses come out
# as seed 003's (the grandparents are the pensioners of "other").
ADULT_STATUS_WEIGHTS = {"employed": 0.446, "carers": 0.380, "students": 0.122, "unemployed": 0.044, "other": 0.008}
# Families whose income is over the poverty line (they are refused), and how adults answer the
# consent SMS: most say yes, a few say no, a few never answer (they wait: the backlog).
WELL_OFF_SHARE = 0.12
CONSENT_REFUSED_SHARE = 0.02
CONSENT_SILENT_SHARE = 0.04
# Families the FDC flags first; of them, those who then apply.
FDC_SHARE = 0.12
FDC_APPLY_SHARE = 0.70
FDC_BATCH = 100
# The banks families hold their TSA account at (the banks the sandbox plays).
BANK_SHARES = {"CASPKZKA": 0.50, "HSBKKZKX": 0.35, "KCJBKZKX": 0.15}
BANK_IBAN_CODE = {"CASPKZKA": "722", "HSBKKZKX": "601", "KCJBKZKX": "856"}


@dataclass
class DemoFamily:
    reference: str
    region_kato: str
    settlement: str
    channel: str
    members: list[dict[str, Any]]
    incomes: dict[str, list[dict[str, str]]]  # per IIN: monthly incomes in the assessment quarter
    bank_code: str
    iban: str
    consent: str  # yes | no | silent: how the other adults answer the SMS from 1414
    fdc_phone: str
    invited: bool = False  # the FDC flags the family first
    applies: bool = True  # it submits an application (an invited family may not)
    category: str = "low_income"


def kz_iban(bank_code: str, account: int) -> str:
    """A Kazakh IBAN of the bank, with its ISO 13616 check digits."""
    bban = f"{BANK_IBAN_CODE[bank_code]}KZT{account % 10**10:010d}"
    digits = "".join(str(int(c, 36)) for c in bban + "KZ00")
    return f"KZ{98 - int(digits) % 97:02d}{bban}"


def _birth(rng: random.Random, today: date, youngest: int, oldest: int) -> date:
    """A birth date of someone aged `youngest` to `oldest` (whole years) today."""
    days = rng.randint(youngest * 365 + 1, oldest * 365 + 360)
    return today - timedelta(days=days)


def generate_families(count: int, *, seed: int, today: date, run: int | None = None) -> list[DemoFamily]:
    """`count` families with seed 003's spread. Pure: the same seed, the same families. `run`
    (0–99) keeps the phones of one run apart from another's."""
    rng = random.Random(seed)
    run = rng.randrange(100) if run is None else run
    regions, region_weights = list(REGION_SHARES), list(REGION_SHARES.values())
    rural_urban = (URBAN_SHARE - sum(REGION_SHARES[c] for c in CITIES) / 100) / (
        1 - sum(REGION_SHARES[c] for c in CITIES) / 100)
    statuses, status_weights = list(ADULT_STATUS_WEIGHTS), list(ADULT_STATUS_WEIGHTS.values())
    taken: set[str] = set()
    phones = iter(range(10**7))
    months = [month_label(m) for m in Quarter.of(today).previous().months()]

    def new_iin(born: date, sex: str) -> str:
        while True:
            iin = make_iin(born, sex, rng.randrange(10_000))
            if iin not in taken:
                taken.add(iin)
                return iin

    def phone() -> str:
        return f"+77{run:02d}{next(phones):07d}"

    families: list[DemoFamily] = []
    for index in range(count):
        region = rng.choices(regions, region_weights)[0]
        settlement = "urban" if region in CITIES or rng.random() < rural_urban else "rural"
        well_off = rng.random() < WELL_OFF_SHARE
        members: list[dict[str, Any]] = []
        incomes: dict[str, list[dict[str, str]]] = {}
        applicant_sex = "female" if rng.random() < 0.7 else "male"
        adults = [("applicant", applicant_sex)]
        if rng.random() < SPOUSE_SHARE:
            adults.append(("spouse", "male" if applicant_sex == "female" else "female"))
        for relation, sex in adults:
            status = rng.choices(statuses, status_weights)[0]
            flags: dict[str, Any] = {}
            wage = 0
            if status == "employed":
                born, flags["employed"] = _birth(rng, today, 22, 55), True
                wage = rng.randint(350_000, 600_000) if well_off else rng.randint(30_000, 85_000)
            elif status == "carers":
                born, flags["carer"] = _birth(rng, today, 22, 50), True
            elif status == "students":
                born, flags["full_time_student"] = _birth(rng, today, 18, 22), True
            elif status == "unemployed":
                born = _birth(rng, today, 25, 58 if sex == "male" else 56)
            else:
                born, flags["disability_group"] = _birth(rng, today, 30, 55), 2
            if well_off and not wage and relation == "applicant":
                wage = rng.randint(350_000, 600_000)  # a job the registry knows of, whatever else they are
            iin = new_iin(born, sex)
            name = f"{'Aigerim' if sex == 'female' else 'Nurlan'} Demo-{index}"
            extra = {"phone": phone()} if relation != "applicant" else {}
            members.append(member(iin, name, born, sex, relation, **flags, **extra))
            incomes[iin] = [{"month": m, "type": "wage", "amount": f"{wage}.00"} for m in months] if wage else []
        if rng.random() < GRANDPARENT_SHARE:
            sex = "female" if rng.random() < 0.65 else "male"
            born = _birth(rng, today, 64, 82)
            iin = new_iin(born, sex)
            members.append(member(iin, f"Grandparent Demo-{index}", born, sex, "parent", phone=phone()))
            incomes[iin] = [{"month": m, "type": "pension", "amount": f"{rng.randint(70_000, 110_000)}.00"}
                            for m in months]
        for _ in range(rng.choices(range(len(CHILDREN_WEIGHTS)), CHILDREN_WEIGHTS)[0]):
            sex = rng.choice(("female", "male"))
            born = _birth(rng, today, 0, 16)
            iin = new_iin(born, sex)
            members.append(member(iin, f"Child Demo-{index}", born, sex, "child"))
            incomes[iin] = []
        answer = rng.random()
        consent = "no" if answer < CONSENT_REFUSED_SHARE else (
            "silent" if answer < CONSENT_REFUSED_SHARE + CONSENT_SILENT_SHARE else "yes")
        bank = rng.choices(list(BANK_SHARES), list(BANK_SHARES.values()))[0]
        invited = rng.random() < FDC_SHARE
        families.append(DemoFamily(
            reference=f"demo-{run:02d}-{seed}-{index}", region_kato=region, settlement=settlement,
            channel="fdc" if invited else ("office" if rng.random() < 0.15 else "egov"),
            members=members, incomes=incomes, bank_code=bank, iban=kz_iban(bank, rng.randrange(10**10)),
            consent=consent, fdc_phone=phone(), invited=invited,
            applies=not invited or rng.random() < FDC_APPLY_SHARE,
            category=rng.choice(("D", "E", "low_income"))))
    return families


# ---- walking the families through the running stack ------------------------------------------------

@dataclass
class Tally:
    """What the run did, for its progress lines (thread-safe)."""

    planned: int
    invited: int = 0
    submitted: int = 0
    skipped: int = 0
    approved: int = 0
    rejected: int = 0
    waiting: int = 0
    signed: int = 0
    errors: int = 0
    done: int = 0
    started: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, **counts: int) -> None:
        with self.lock:
            for name, value in counts.items():
                setattr(self, name, getattr(self, name) + value)

    def line(self) -> str:
        rate = self.done / max(time.monotonic() - self.started, 1e-9)
        return (f"[{self.done:>5}/{self.planned}] submitted {self.submitted}, approved {self.approved}, "
                f"rejected {self.rejected}, waiting {self.waiting}, contracts signed {self.signed}, "
                f"skipped {self.skipped}, errors {self.errors} — {rate:.1f} families/s")


class Connections:
    """What every family's walk shares (httpx clients are thread-safe, and making one per request
    costs more CPU than the request): the gateway, the sandbox, and the portal's own token,
    fetched again every few minutes (a run outlives one token)."""

    def __init__(self, gateway: str, sandbox: str, portal_caller: dict, lifetime: float = 240.0) -> None:
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
        self.gateway = httpx.Client(base_url=gateway, timeout=30.0, limits=limits)
        self.sandbox = httpx.Client(base_url=sandbox, timeout=30.0, limits=limits)
        self.caller, self.lifetime = portal_caller, lifetime
        self.lock = threading.Lock()
        self.token: str | None = None
        self.fetched = 0.0

    def portal_token(self) -> str:
        with self.lock:
            if self.token is None or time.monotonic() - self.fetched > self.lifetime:
                response = self.gateway.post("/oauth/token", data={"grant_type": "client_credentials"},
                                             auth=(self.caller["id"], self.caller["secret"]))
                response.raise_for_status()
                self.token, self.fetched = response.json()["access_token"], time.monotonic()
            return self.token

    def close(self) -> None:
        self.gateway.close()
        self.sandbox.close()


class Citizen:
    """The portal acting for one citizen (signed in at eGov, the sandbox's IDP; the assertion
    exchanged for a token, RFC 8693), signed in again before the token runs out (a family's walk
    may outlast a citizen token, 5 minutes, when the platform is busy)."""

    def __init__(self, connections: Connections, iin: str, lifetime: float = 200.0) -> None:
        self.connections, self.iin, self.lifetime = connections, iin, lifetime
        self.token = self._sign_in()
        self.since = time.monotonic()

    def _sign_in(self) -> str:
        signed_in = self.connections.sandbox.post(SIGN_IN_PATH, json={"iin": self.iin})
        signed_in.raise_for_status()
        response = self.connections.gateway.post("/oauth/token", data={
            "grant_type": TOKEN_EXCHANGE, "subject_token": signed_in.json()["id_token"],
            "subject_token_type": ID_TOKEN, "actor_token": self.connections.portal_token(),
            "actor_token_type": ACCESS_TOKEN})
        response.raise_for_status()
        return response.json()["access_token"]

    def _headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        if time.monotonic() - self.since > self.lifetime:
            self.token, self.since = self._sign_in(), time.monotonic()
        return {"Authorization": f"Bearer {self.token}"} | (extra or {})

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.connections.gateway.get(path, headers=self._headers(kwargs.pop("headers", None)), **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.connections.gateway.post(path, headers=self._headers(kwargs.pop("headers", None)), **kwargs)

    def wait_for(self, path: str, ready: Callable[[Any], bool], timeout: float) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            response = self.get(path)
            if response.status_code == 200 and ready(response.json()):
                return response.json()
            if time.monotonic() > deadline:
                raise TimeoutError(f"{path} not ready within {timeout:.0f}s")
            time.sleep(0.5)


def _prepare_registries(sb: httpx.Client, family: DemoFamily) -> None:
    """The sandbox's registries say what the family is: its incomes, no home or car bought, no
    bank account the expense check would read (the adults still consent)."""
    for m in family.members:
        sb.put(f"/sandbox/persons/{m['iin']}", json={"incomes": family.incomes[m["iin"]]}).raise_for_status()
        sb.put(f"/sandbox/persons/{m['iin']}/purchases", json={"purchases": []}).raise_for_status()
        sb.put(f"/sandbox/persons/{m['iin']}/accounts", json={"banks": []}).raise_for_status()


def _answer_consents(citizen: Citizen, sb: httpx.Client, app_id: str, family: DemoFamily,
                     timeout: float = 60.0) -> None:
    """Each adult asked by SMS answers ДА (or НЕТ) with the code the SMS gave, as the SMS gateway
    would post it; a silent family never answers."""
    if family.consent == "silent":
        return
    shown = citizen.get(f"/v1/applications/{app_id}").json()
    phones = {m["iin"]: m.get("phone") for m in family.members}
    for m in shown.get("members", []):
        consent = m.get("consent")
        if consent is None or consent["status"] != "requested" or not phones.get(m["iin"]):
            continue
        deadline = time.monotonic() + timeout
        while not (sent := [x for x in sb.get("/sandbox/sms/messages", params={"to": phones[m["iin"]]}).json()
                            if x["reference"] == consent["id"]]):
            if time.monotonic() > deadline:
                raise TimeoutError("no SMS from 1414 within the time allowed")
            time.sleep(0.5)
        found = re.search(r"ДА (\d{6})", sent[-1]["text"])
        if found is None:
            raise RuntimeError("the SMS from 1414 carries no code")
        word = "НЕТ" if family.consent == "no" else "ДА"
        for _ in range(20):
            reply = sb.post("/sandbox/sms/reply", json={"from": phones[m["iin"]], "text": f"{word} {found.group(1)}"})
            reply.raise_for_status()
            # "late" this early: the SMS reached the phone before intake noted it sent (and set the
            # deadline, in the transaction after the SMS gateway took it): the member replies again.
            if reply.json().get("outcome") != "late":
                break
            time.sleep(0.5)


def walk_family(family: DemoFamily, *, connections: Connections, tally: Tally,
                decision_timeout: float = 300.0) -> None:
    """One family: registries set, the applicant signs in at eGov and submits through the portal,
    the adults answer the SMS, and a conditional family's contract is signed once drafted."""
    sb = connections.sandbox
    _prepare_registries(sb, family)
    if not family.applies:
        return
    citizen = Citizen(connections, family.members[0]["iin"])
    body = {"channel": family.channel, "region_kato": family.region_kato, "settlement": family.settlement,
            "bank_account": {"iban": family.iban, "bank_code": family.bank_code},
            "expense_check_consent": True, "members": family.members}
    created = citizen.post("/v1/applications", json=body, headers={"Idempotency-Key": str(uuid.uuid4())})
    if created.status_code in (409, 422):  # a member already applying (an earlier run), or refused
        tally.add(skipped=1)
        return
    created.raise_for_status()
    tally.add(submitted=1)
    app_id = created.json()["id"]
    _answer_consents(citizen, sb, app_id, family)
    if family.consent == "silent":
        tally.add(waiting=1)
        return
    try:
        decided = citizen.wait_for(f"/v1/applications/{app_id}", lambda a: a["decision"] is not None,
                                   timeout=decision_timeout)
    except TimeoutError:
        tally.add(waiting=1)
        return
    decision = decided["decision"]
    tally.add(approved=1) if decision["eligible"] else tally.add(rejected=1)
    if decision["eligible"] and decision["kind"] == "conditional":
        drafted = citizen.wait_for(f"/v1/applications/{app_id}", lambda a: a["contract_id"] is not None,
                                   timeout=decision_timeout)
        citizen.post(f"/v1/contracts/{drafted['contract_id']}/sign").raise_for_status()
        tally.add(signed=1)


def invite_first(families: list[DemoFamily], *, gateway: str, fdc_caller: dict, sandbox: str,
                 echo: Callable[[str], None]) -> int:
    """The FDC flags the families marked invited (`POST /v1/fdc/invitations`, batches of 100: a
    batch must be pre-checked within the internal token's minute, docs/fdc.md), after the
    registries know their incomes; returns how many intake invited."""
    flagged = [f for f in families if f.invited]
    if not flagged:
        return 0
    with httpx.Client(base_url=sandbox, timeout=10.0) as sb:
        for family in flagged:
            _prepare_registries(sb, family)
    fdc = GatewayClient(gateway, fdc_caller["id"], fdc_caller["secret"])
    invited = 0
    try:
        for start in range(0, len(flagged), FDC_BATCH):
            batch = flagged[start:start + FDC_BATCH]
            response = fdc.post("/v1/fdc/invitations", timeout=300.0, json={"families": [
                {"reference": f.reference, "region_kato": f.region_kato, "settlement": f.settlement,
                 "phone": f.fdc_phone, "category": f.category,
                 "members": [{k: m[k] for k in ("iin", "birth_date", "sex", "relation")} for m in f.members]}
                for f in batch]})
            response.raise_for_status()
            counts = response.json()["counts"]
            invited += counts.get("invited", 0)
            echo("FDC batch of {}: {}".format(len(batch), ", ".join(f"{k} {v}" for k, v in counts.items() if v)))
    finally:
        fdc.close()
    return invited


def _signed(caller: dict, method: str, path: str, body: bytes = b"") -> dict[str, str]:
    """A bank's signature over a request (docs/gateway.md, "Signed bank callbacks")."""
    ts, nonce = str(int(time.time())), secrets.token_urlsafe(18)
    message = "\n".join([ts, nonce, method, path, hashlib.sha256(body).hexdigest()])
    signature = hmac.new(caller["signing_secret"].encode(), message.encode(), hashlib.sha256).hexdigest()
    return {"X-Qamqor-Timestamp": ts, "X-Qamqor-Nonce": nonce, "X-Qamqor-Signature": signature}


def release_and_settle(*, gateway: str, callers: list[dict], month: str, seed: int, failed_share: float = 0.03,
                       echo: Callable[[str], None]) -> None:
    """The administrator releases the month (`POST /v1/payments/releases`); each bank pulls its
    batches, acknowledges them with their checksum and reports each order settled (or, for a few,
    failed: the account closed) — signed, as docs/payments.md says."""
    admin = next((c for c in callers if c["kind"] == "admin"), None)
    if admin is None:
        echo("no administrator among the callers: payments not released")
        return
    rng = random.Random(seed)
    client = GatewayClient(gateway, admin["id"], admin["secret"])
    try:
        run = client.post("/v1/payments/releases", json={"month": month}, timeout=120.0)
        if run.status_code != 200 and run.status_code != 201:
            echo(f"release of {month} refused: {run.status_code} {run.text[:200]}")
            return
        echo(f"{month}: {run.json().get('orders_created', 0)} payment orders released")
    finally:
        client.close()
    for bank in (c for c in callers if c["kind"] == "bank" and c.get("signing_secret")):
        http = GatewayClient(gateway, bank["id"], bank["secret"])
        settled = failed = 0
        try:
            path = f"/v1/banks/{bank['bank_code']}/payment-orders"
            batches = http.get(path, params={"limit": 1000}, headers=_signed(bank, "GET", path), timeout=60.0)
            if batches.status_code != 200:
                echo(f"{bank['bank_code']}: payment orders not read ({batches.status_code})")
                continue
            for batch in batches.json():
                lines = sorted(f"{o['id']}|{o['month']}|{o['component']}|{o['amount']}|{o['iban']}"
                               for o in batch["orders"])
                ack_path = f"/v1/banks/{bank['bank_code']}/batches/{batch['id']}/ack"
                raw = json.dumps({"checksum": hashlib.sha256("\n".join(lines).encode()).hexdigest()}).encode()
                http.post(ack_path, content=raw, headers={"content-type": "application/json"}
                          | _signed(bank, "POST", ack_path, raw))
                status_path = f"/v1/banks/{bank['bank_code']}/payment-status"
                for order in batch["orders"]:
                    if order["status"] != "released":
                        continue
                    report = ({"order_id": order["id"], "status": "failed", "reason": "account_closed"}
                              if rng.random() < failed_share else
                              {"order_id": order["id"], "status": "settled", "amount": str(order["amount"])})
                    raw = json.dumps(report).encode()
                    answer = http.post(status_path, content=raw, headers={"content-type": "application/json"}
                                       | _signed(bank, "POST", status_path, raw))
                    if answer.status_code < 300:
                        settled, failed = (settled + 1, failed) if report["status"] == "settled" else (settled, failed + 1)
            echo(f"{bank['bank_code']}: {settled} orders settled, {failed} failed")
        finally:
            http.close()


def run_families(gateway: str, sandbox: str, callers: list[dict], count: int, *, seed: int | None = None,
                 concurrency: int = 16, payments: bool = True, echo: Callable[[str], None] = print) -> Tally:
    """`count` families with seed 003's spread through the running stack (idempotent-ish: another
    run adds other families; a family whose member is already applying is skipped, never fatal)."""
    seed = seed if seed is not None else int(time.time())
    today = business_date()
    families = generate_families(count, seed=seed, today=today)
    portal_caller = next(c for c in callers if c["kind"] == "portal")
    fdc_caller = next((c for c in callers if c["kind"] == "fdc"), None)
    echo(f"{count} families (seed {seed}): {sum(f.invited for f in families)} flagged by the FDC first, "
         f"{sum(f.applies for f in families)} applying")
    tally = Tally(planned=count)
    if fdc_caller is not None:
        tally.invited = invite_first(families, gateway=gateway, fdc_caller=fdc_caller, sandbox=sandbox, echo=echo)
    connections = Connections(gateway, sandbox, portal_caller)
    step = max(1, min(100, count // 20))

    def one(family: DemoFamily) -> None:
        try:
            walk_family(family, connections=connections, tally=tally)
        except Exception as error:  # noqa: BLE001 - one family's trouble never stops the run
            tally.add(errors=1)
            echo(f"  {family.reference}: {type(error).__name__}: {str(error)[:200]}")
        finally:
            tally.add(done=1)
            if tally.done % step == 0 or tally.done == count:
                echo(tally.line())

    try:
        with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
            list(pool.map(one, families))
    finally:
        connections.close()
    if payments:
        release_and_settle(gateway=gateway, callers=callers, month=month_label(today), seed=seed, echo=echo)
    echo(f"done: {tally.line()}; the dashboard's figures follow as reporting projects the events")
    return tally
