"""Following one application through the running platform by its traces (issue 9, point 6): every
process of the e2e platform exports its spans over OTLP/HTTP to the session's receiver
(tests/e2e/conftest.py). The submission and everything it causes — verification and its registry
calls, the decision, the payment schedule, intake's status updates — is one trace; a family that
signs a contract continues in the trace of the signature, and the application's id finds both.
No span, of any test so far, carries personal data."""

from __future__ import annotations

import re
import uuid
from datetime import date

import pytest

from shared.calendar import business_date
from shared.iin import is_valid_iin, make_iin
from tests.e2e.conftest import application, caller_of, set_incomes, submit
from tests.otlp import OtlpReceiver, ReceivedSpan
from tests.support import person

pytestmark = pytest.mark.e2e


def request_trace(receiver: OtlpReceiver, request_id: str, wanted: set[tuple[str, str, str]]) -> list[ReceivedSpan]:
    """The trace of the gateway request `request_id`, once it holds every (service, kind, name) in
    `wanted` and every span's parent (nothing of it still on its way)."""
    def complete(spans: list[ReceivedSpan]) -> list[ReceivedSpan] | None:
        edge = [s for s in spans if s.service == "gateway" and s.kind == "SERVER"
                and s.attributes.get("qamqor.request_id") == request_id]
        if not edge:
            return None
        trace = [s for s in spans if s.trace_id == edge[0].trace_id]
        ids = {s.span_id for s in trace}
        closed = all(s.parent_span_id in ids for s in trace if s is not edge[0])
        return trace if closed and wanted <= {(s.service, s.kind, s.name) for s in trace} else None

    return receiver.wait_for(complete, timeout=60)


def of_application(receiver: OtlpReceiver, application_id: str) -> list[ReceivedSpan]:
    return [s for s in receiver.snapshot() if s.attributes.get("qamqor.event.key") == application_id]


SUBMISSION = {
    ("gateway", "SERVER", "POST /v1/applications"),
    ("intake", "SERVER", "POST /v1/applications"),
    ("verification", "CONSUMER", "process application.submitted"),
    ("verification", "CLIENT", "POST income_registry"),
    ("eligibility", "CONSUMER", "process verification.completed"),
    ("intake", "CONSUMER", "process verification.completed"),
    ("intake", "CONSUMER", "process eligibility.decided"),
    ("reporting", "CONSUMER", "process application.submitted"),
}


def test_one_application_is_one_trace_from_submission_to_its_payments(citizen, sandbox, trace_receiver):
    grandmother = person(date(1951, 10, 2), "female", "applicant")
    grandchild = person(date(business_date().year - 6, 3, 3), "female", "grandchild")
    set_incomes(sandbox, grandmother["iin"], "pension", "58000.00")
    set_incomes(sandbox, grandchild["iin"], None, "0")
    applicant = citizen(grandmother["iin"])
    response = applicant.post("/v1/applications", json=application([grandmother, grandchild]),
                              headers={"Idempotency-Key": str(uuid.uuid4())})
    assert response.status_code == 201, response.text
    app_id = response.json()["id"]
    applicant.wait_for(f"/v1/applications/{app_id}", lambda a: a["status"] == "payments_scheduled")

    trace = request_trace(trace_receiver, response.headers["x-request-id"], SUBMISSION | {
        ("payments", "CONSUMER", "process eligibility.decided"),
        ("intake", "CONSUMER", "process payment.scheduled")})
    by_id = {s.span_id: s for s in trace}

    def path_to_the_edge(span: ReceivedSpan) -> list[str]:
        services = [span.service]
        while span.parent_span_id:
            span = by_id[span.parent_span_id]
            services.append(span.service)
        return services

    # The payments were scheduled by the decision, which came from the evidence, which came from
    # the submission: one chain of causes, through Kafka three times.
    scheduled = next(s for s in trace if (s.service, s.name) == ("intake", "process payment.scheduled"))
    assert path_to_the_edge(scheduled) == ["intake", "payments", "eligibility", "verification", "intake", "gateway"]
    assert {s.trace_id for s in of_application(trace_receiver, app_id)} == {trace[0].trace_id}


def test_a_signed_contract_continues_in_the_trace_of_the_signature(citizen, sandbox, trace_receiver):
    mother = person(date(1992, 2, 14), "female", "applicant")
    son = person(date(2017, 9, 30), "male", "child")
    set_incomes(sandbox, mother["iin"], "wage", "43000.00")
    set_incomes(sandbox, son["iin"], None, "0")
    applicant = citizen(mother["iin"])
    submitted = applicant.post("/v1/applications", json=application([mother, son]),
                               headers={"Idempotency-Key": str(uuid.uuid4())})
    app_id = submitted.json()["id"]
    drafted = applicant.wait_for(f"/v1/applications/{app_id}", lambda a: a["status"] == "contract_drafted")
    signed = applicant.post(f"/v1/contracts/{drafted['contract_id']}/sign")
    assert signed.status_code == 200
    applicant.wait_for(f"/v1/applications/{app_id}", lambda a: a["status"] == "payments_scheduled")

    first = request_trace(trace_receiver, submitted.headers["x-request-id"],
                          SUBMISSION | {("contracts", "CONSUMER", "process eligibility.decided")})
    second = request_trace(trace_receiver, signed.headers["x-request-id"], {
        ("gateway", "SERVER", "POST /v1/contracts/{contract_id}/sign"),
        ("contracts", "SERVER", "POST /v1/contracts/{contract_id}/sign"),
        ("payments", "CONSUMER", "process contract.signed"),
        ("intake", "CONSUMER", "process payment.scheduled")})
    # The application's id (the key of its events) finds both traces, and only them.
    assert {s.trace_id for s in of_application(trace_receiver, app_id)} == {first[0].trace_id, second[0].trace_id}


MOTHER_BORN, DAUGHTER_BORN = date(1986, 12, 4), date(2014, 4, 19)
MOTHER_IIN, DAUGHTER_IIN = make_iin(MOTHER_BORN, "female", 7311), make_iin(DAUGHTER_BORN, "female", 7312)
MOTHER_NAME, DAUGHTER_NAME = "Gulmira Bakhytkyzy Sarsenbayeva", "Dilnaz Nurlankyzy Sarsenbayeva"
MOTHER_PHONE = "+77017224913"
# What is not personal data, yet looks like a 12-digit number: ids (UUIDs, trace and span ids).
_IDS = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|\b[0-9a-f]{16,32}\b")
_TWELVE_DIGITS = re.compile(r"(?<!\d)\d{12}(?!\d)")


def test_no_span_carries_personal_data(platform, citizen, sandbox, trace_receiver):
    common = {"employed": False, "full_time_student": False, "disability_group": None, "carer": False}
    members = [
        {"iin": MOTHER_IIN, "full_name": MOTHER_NAME, "birth_date": MOTHER_BORN.isoformat(), "sex": "female",
         "relation": "applicant", "phone": MOTHER_PHONE} | common,
        {"iin": DAUGHTER_IIN, "full_name": DAUGHTER_NAME, "birth_date": DAUGHTER_BORN.isoformat(), "sex": "female",
         "relation": "child"} | common,
    ]
    set_incomes(sandbox, MOTHER_IIN, "wage", "39000.00")
    set_incomes(sandbox, DAUGHTER_IIN, None, "0")
    applicant = citizen(MOTHER_IIN)
    app_id = submit(applicant, members)
    applicant.wait_for(f"/v1/applications/{app_id}", lambda a: a["decision"] is not None)
    fdc_caller = caller_of(platform, "fdc")
    from qamqor_cli.demo import GatewayClient

    fdc = GatewayClient(platform.layout.url("gateway"), fdc_caller["id"], fdc_caller["secret"])
    # Requests whose paths, queries and bodies carry the family's data, answered or refused.
    answers = [
        fdc.get(f"/v1/fdc/families/{MOTHER_IIN}/status"),
        applicant.get(f"/v1/applications/{MOTHER_IIN}"),
        applicant.get("/v1/applications", params={"iin": MOTHER_IIN, "name": MOTHER_NAME, "phone": MOTHER_PHONE}),
        applicant.get(f"/v1/nowhere/{DAUGHTER_IIN}/{DAUGHTER_BORN.strftime('%d.%m.%Y')}"),
        applicant.post("/v1/applications", json=application([dict(members[0], birth_date="1986-12-05"), members[1]]),
                       headers={"Idempotency-Key": str(uuid.uuid4())}),
    ]
    assert all(a.status_code < 500 for a in answers), [a.status_code for a in answers]
    forwarded = [a.headers["x-request-id"] for a in answers if a.status_code != 404]
    trace_receiver.wait_for(lambda spans: {r for s in spans if s.service != "gateway" and s.kind == "SERVER"
                                           for r in [s.attributes.get("qamqor.request_id")]} >= set(forwarded))

    spans = trace_receiver.snapshot()
    assert len({s.service for s in spans}) == 7  # gateway and the six services
    forbidden = {MOTHER_IIN, DAUGHTER_IIN, MOTHER_PHONE, "8" + MOTHER_PHONE[2:], MOTHER_BORN.isoformat(),
                 DAUGHTER_BORN.isoformat(), DAUGHTER_BORN.strftime("%d.%m.%Y"), "Sarsenbayeva", "Gulmira", "Dilnaz"}
    leaks = [(s.service, s.name, text) for s in spans for text in s.strings() if any(v in text for v in forbidden)]
    assert leaks == []
    # Nor any other family's IIN, of any test so far: no valid IIN anywhere outside an id.
    iins = [(s.service, s.name, text) for s in spans for text in s.strings()
            for run in _TWELVE_DIGITS.findall(_IDS.sub("", text)) if is_valid_iin(run)]
    assert iins == []
    assert not any(key in s.attributes for s in spans for key in ("url.full", "url.query", "http.target", "http.url"))
