"""One OpenAPI document for the whole public API.

The gateway's own operations plus, for every route in the route table, the owning service's
operation (fetched from its /openapi.json, cached for a minute). A service that is down is
left out with a note, and its routes still appear from the table, so /docs always works.
Each operation gets the OAuth2 scope the table requires; bank routes also their signature
headers.

Every error the API answers is RFC 9457 problem+json, whoever answers it, so every operation
documents its errors — those the gateway itself may answer on that route and those its service
declares — as `application/problem+json` with the one shared `Problem` schema (FastAPI's default
`HTTPValidationError` is replaced: no service answers with it)."""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from collections.abc import Callable
from typing import Any

import aiohttp

from gateway.routes import GATEWAY, ROUTES, SCOPES, Route
from gateway.schemas import OAuthProblem, Problem
from shared.errors import PROBLEM_JSON

log = logging.getLogger("qamqor.gateway.openapi")

SIGNATURE_HEADERS = [
    {"name": "X-Qamqor-Timestamp", "in": "header", "required": True, "schema": {"type": "string"},
     "description": "Unix seconds; refused when more than 300 s from the gateway clock."},
    {"name": "X-Qamqor-Nonce", "in": "header", "required": True,
     "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{16,64}$"},
     "description": "16–64 URL-safe characters, never reused."},
    {"name": "X-Qamqor-Signature", "in": "header", "required": True,
     "schema": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
     "description": "lowercase hex HMAC-SHA256 with the bank's signing secret over "
                    "timestamp\\nnonce\\nMETHOD\\npath\\nhex(sha256(body))."},
]
ERROR_DESCRIPTIONS = {
    "400": "Malformed request: JSON that does not parse (the position is named), a missing Idempotency-Key",
    "401": "No valid bearer token (or, on bank routes, no valid signature)",
    "403": "The token lacks the route's scope, or the caller may not see this",
    "404": "No such resource, or not one this caller may see",
    "409": "Conflicts with the current state",
    "413": "The request body is too large",
    "415": "The request body is not JSON",
    "422": "A field, query parameter or path segment is not valid; `errors` names each",
    "429": "Rate limit exceeded; see Retry-After",
    "502": "The owning service gave no valid answer",
    "503": "The owning service is unavailable and nothing was done; repeat after Retry-After",
    "504": "The owning service did not answer in time",
}
RETRY_AFTER = {"Retry-After": {"description": "seconds to wait", "schema": {"type": "string"}}}
WWW_AUTHENTICATE = {"WWW-Authenticate": {"schema": {"type": "string"}}}
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
DEFAULT_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")


def problem_schemas() -> dict[str, Any]:
    """Problem, FieldProblem and OAuthProblem as components."""
    schemas: dict[str, Any] = {}
    for model in (Problem, OAuthProblem):
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    return schemas


def error_statuses(route: Route | None, operation: dict[str, Any], method: str) -> set[str]:
    """The errors an operation can answer: the gateway's on every route it guards, the input
    checks' wherever there is input, and whatever the service itself declares."""
    statuses = {code for code in operation.get("responses", {}) if code[:1] in ("4", "5")}
    if route is None:  # a public gateway path documents its own
        return statuses
    statuses |= {"401", "403", "422", "429", "503"}  # 422: a control character in path or query
    if route.service != GATEWAY:
        statuses |= {"502", "504"}
    if route.params:
        statuses.add("404")
    if method in ("post", "put", "patch"):
        statuses |= {"400", "413", "415"}
    return statuses


def as_problems(operation: dict[str, Any], statuses: set[str]) -> None:
    """Each error response as problem+json with the shared schema (OAuthProblem where the
    operation says so), keeping the service's description and example."""
    responses = operation.setdefault("responses", {})
    for status in sorted(statuses):
        response = responses.get(status) or {}
        content = response.get("content") or {}
        schema, example = PROBLEM_REF, None
        for media in content.values():
            ref = (media.get("schema") or {}).get("$ref", "")
            if ref.endswith("/OAuthProblem"):
                schema = {"$ref": ref}
            example = example or media.get("example")
        description = response.get("description")
        if not description or description == "Validation Error":
            description = ERROR_DESCRIPTIONS.get(status, "Error")
        media_type: dict[str, Any] = {"schema": schema}
        if example is not None:
            media_type["example"] = example
        converted: dict[str, Any] = {"description": description, "content": {PROBLEM_JSON: media_type}}
        headers = dict(response.get("headers") or {})
        if status in ("429", "503"):
            headers |= RETRY_AFTER
        if status == "401":
            headers |= WWW_AUTHENTICATE
        if headers:
            converted["headers"] = headers
        responses[status] = converted


def _referenced(node: Any, found: set[str]) -> set[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                found.add(value.rsplit("/", 1)[1])
            else:
                _referenced(value, found)
    elif isinstance(node, list):
        for item in node:
            _referenced(item, found)
    return found


def _rewrite_refs(node: Any, renames: dict[str, str]) -> Any:
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith("#/components/schemas/"):
                name = value.rsplit("/", 1)[1]
                out[key] = "#/components/schemas/" + renames.get(name, name)
            else:
                out[key] = _rewrite_refs(value, renames)
        return out
    if isinstance(node, list):
        return [_rewrite_refs(item, renames) for item in node]
    return node


def merge(gateway_doc: dict[str, Any], service_docs: dict[str, dict[str, Any] | None], *, title: str) -> dict[str, Any]:
    schemas: dict[str, Any] = dict(gateway_doc.get("components", {}).get("schemas", {}))
    docs: dict[str, dict[str, Any]] = {GATEWAY: gateway_doc}
    for service, doc in service_docs.items():
        if doc is None:
            continue
        renames: dict[str, str] = {}
        service_schemas = doc.get("components", {}).get("schemas", {})
        for name, schema in service_schemas.items():
            if name in schemas and schemas[name] != schema:
                renames[name] = f"{service}_{name}"
        doc = _rewrite_refs(doc, renames)
        for name, schema in doc.get("components", {}).get("schemas", {}).items():
            schemas[renames.get(name, name)] = schema
        docs[service] = doc

    schemas.update(problem_schemas())
    paths: dict[str, dict[str, Any]] = {}
    for path, item in gateway_doc.get("paths", {}).items():
        if not path.startswith("/v1/"):
            paths[path] = copy.deepcopy(item)
            for method, operation in paths[path].items():
                as_problems(operation, error_statuses(None, operation, method))
    for route in ROUTES:
        doc = docs.get(route.service)
        operation = _operation(doc, route)
        as_problems(operation, error_statuses(route, operation, route.method.lower()))
        paths.setdefault(route.path, {})[route.method.lower()] = operation
    # FastAPI's default validation schemas: no operation refers to them once errors are problems.
    used = _referenced(paths, set())
    while True:
        more = _referenced({name: schemas[name] for name in used if name in schemas}, set(used))
        if more == used:
            break
        used = more
    for name in list(schemas):
        if name.split("_", 1)[-1] in DEFAULT_VALIDATION_SCHEMAS and name not in used:
            del schemas[name]

    missing = sorted(s for s, d in service_docs.items() if d is None)
    description = ("Every request goes through this gateway. Get a token with client credentials at "
                   "/oauth/token; a portal acting for a citizen exchanges its token and the citizen's eGov IDP "
                   "assertion there (RFC 8693). Bank routes are also HMAC-signed (see the X-Qamqor-* headers). "
                   "Every error is application/problem+json (RFC 9457).")
    if missing:
        description += f" Not reachable when this document was built: {', '.join(missing)}."
    return {
        "openapi": gateway_doc.get("openapi", "3.1.0"),
        "info": {"title": title, "version": gateway_doc.get("info", {}).get("version", "0.1.0"),
                 "description": description},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "oauth2": {"type": "oauth2", "flows": {"clientCredentials": {"tokenUrl": "/oauth/token",
                                                                             "scopes": dict(SCOPES)}}},
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
            },
        },
        "x-qamqor-unavailable-services": missing,
    }


def _operation(doc: dict[str, Any] | None, route: Route) -> dict[str, Any]:
    # The table uses the services' own paths, parameter names included (the route-table
    # contract test keeps it so), so an operation is found by its exact path.
    found = doc.get("paths", {}).get(route.path, {}).get(route.method.lower()) if doc is not None else None
    operation = copy.deepcopy(found) if found else {
        "summary": f"{route.method} {route.path}",
        "description": f"Served by {route.service} (its description was not available).",
        "parameters": [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                       for name in route.params],
        "responses": {"200": {"description": "OK"}},
    }
    operation.setdefault("tags", [route.service])
    operation["security"] = [{"oauth2": [route.scope]}, {"bearer": []}]
    operation["x-qamqor-scope"] = route.scope
    operation["x-qamqor-service"] = route.service
    if route.signed:
        operation["parameters"] = list(operation.get("parameters", [])) + SIGNATURE_HEADERS
    return operation


class MergedOpenApi:
    def __init__(self, gateway_doc: Callable[[], dict[str, Any]], session: aiohttp.ClientSession,
                 service_urls: dict[str, str], *, cache_seconds: float, title: str = "Qamqor API") -> None:
        self.gateway_doc = gateway_doc
        self.session = session
        self.service_urls = service_urls
        self.cache_seconds = cache_seconds
        self.title = title
        self._cached: tuple[float, dict[str, Any]] | None = None
        self._lock = asyncio.Lock()

    async def document(self) -> dict[str, Any]:
        async with self._lock:
            now = time.monotonic()
            if self._cached is not None and now - self._cached[0] < self.cache_seconds:
                return self._cached[1]
            services = sorted({route.service for route in ROUTES if route.service != GATEWAY})
            fetched = await asyncio.gather(*(self._fetch(name) for name in services))
            doc = merge(self.gateway_doc(), dict(zip(services, fetched)), title=self.title)
            # Cache a complete document for the full period; an incomplete one only briefly.
            ttl_start = now if not doc["x-qamqor-unavailable-services"] else now - self.cache_seconds + 5
            self._cached = (ttl_start, doc)
            return doc

    async def _fetch(self, service: str) -> dict[str, Any] | None:
        url = self.service_urls[service].rstrip("/") + "/openapi.json"
        try:
            async with self.session.get(url, timeout=aiohttp.ClientTimeout(total=2.0)) as response:
                response.raise_for_status()
                return await response.json(content_type=None)
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError):
            log.info("OpenAPI of %s not available", service)
            return None
