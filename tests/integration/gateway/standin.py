"""A stand-in service: the same internal-token middleware and request-id middleware as every
real service, and one catch-all route that echoes what it saw (the caller from the internal
token, the path, the headers named x-qamqor-*, the body's hash). The gateway tests and the
benchmark run it under a real uvicorn server.

`?delay=S` makes it answer after S seconds (for the 504 test); `?chunks=N` streams N chunks;
`?subjects=IIN,IIN` names those people in the data-subjects header, as a service whose answer
carries their data does (`shared.access.note_data_subjects`).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from shared.access import DataSubjectsMiddleware, note_data_subjects
from shared.errors import install_error_handlers
from shared.identity import InternalTokenVerifier
from shared.observability import RequestContextMiddleware
from shared.service import InternalAuthMiddleware


class Summary(BaseModel):
    recipients: int
    amount_tiyn: int


def create_standin(service: str, public_pem: bytes) -> FastAPI:
    app = FastAPI(title=f"stand-in {service}")
    install_error_handlers(app)
    app.add_middleware(DataSubjectsMiddleware)
    app.add_middleware(InternalAuthMiddleware, verifier=InternalTokenVerifier(public_pem))
    app.add_middleware(RequestContextMiddleware, service=f"standin-{service}")

    async def echo(request: Request):  # type: ignore[no-untyped-def]
        delay = float(request.query_params.get("delay", "0"))
        if delay:
            await asyncio.sleep(delay)
        body = await request.body()
        caller = request.state.caller
        seen = {
            "service": service,
            "method": request.method,
            "path": request.url.path,
            "query": request.url.query,
            "caller": {"id": caller.id, "kind": caller.kind, "scopes": sorted(caller.scopes),
                       "bank_code": caller.bank_code, "citizen": caller.citizen_iin,
                       "regions": sorted(caller.regions)},
            "request_id": request.headers.get("x-request-id"),
            "qamqor_headers": sorted(k for k in request.headers if k.startswith("x-qamqor")),
            "authorization_forwarded": "authorization" in request.headers,
            "header_names": sorted(set(request.headers.keys())),
            "body_length": len(body),
            "body_sha256": hashlib.sha256(body).hexdigest(),
        }
        subjects = request.query_params.get("subjects")
        if subjects:
            note_data_subjects(subjects.split(","))
        chunks = int(request.query_params.get("chunks", "0"))
        if chunks:
            async def stream():  # type: ignore[no-untyped-def]
                for i in range(chunks):
                    yield f"chunk {i}\n".encode()
                    await asyncio.sleep(0)
            return StreamingResponse(stream(), media_type="text/plain")
        return seen

    # One documented operation, so the gateway's merged OpenAPI has a real one to pick up.
    app.add_api_route("/v1/stats/summary", echo, methods=["GET"], summary="Recipients and amounts",
                      responses={200: {"model": Summary}})
    app.add_api_route("/{path:path}", echo, methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                      include_in_schema=False)
    return app


def app_from_env() -> FastAPI:
    """`uvicorn --factory tests.integration.gateway.standin:app_from_env` (the benchmark)."""
    return create_standin(os.environ.get("QAMQOR_STANDIN_SERVICE", "reporting"),
                          Path(os.environ["QAMQOR_STANDIN_PUBLIC_KEY_FILE"]).read_bytes())
