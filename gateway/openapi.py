"""One OpenAPI document for the whole public API.

The gateway's own operations plus, for every route in the route table, the owning service's
operation (fetched from its /openapi.json, cached for a minute). A service that is down is
left out with a note, and its routes still appear from the table, so /docs always works.
Each operation gets the OAuth2 scope the table requires; bank routes also their signature
headers."""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from collections.abc import Callable
from typing import Any

import aiohttp

from gateway.routes import GATEWAY, ROUTES, SCOPES, Route

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
ERROR_RESPONSES = {
    "401": {"description": "No valid bearer token (or, on bank routes, no valid signature)"},
    "403": {"description": "The token lacks the route's scope"},
    "429": {"description": "Rate limit exceeded; see Retry-After"},
    "503": {"description": "The owning service is unavailable"},
    "504": {"description": "The owning service did not answer in time"},
}


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

    paths: dict[str, dict[str, Any]] = {}
    for path, item in gateway_doc.get("paths", {}).items():
        if not path.startswith("/v1/"):
            paths[path] = copy.deepcopy(item)
    for route in ROUTES:
        doc = docs.get(route.service)
        operation = _operation(doc, route)
        paths.setdefault(route.path, {})[route.method.lower()] = operation

    missing = sorted(s for s, d in service_docs.items() if d is None)
    description = ("Every request goes through this gateway. Get a token with client credentials at "
                   "/oauth/token; bank routes are also HMAC-signed (see the X-Qamqor-* headers).")
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
    responses = operation.setdefault("responses", {})
    for status, response in ERROR_RESPONSES.items():
        responses.setdefault(status, response)
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
