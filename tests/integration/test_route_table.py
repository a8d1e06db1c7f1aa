"""The gateway's route table tells the truth about the services behind it.

For every real service app (built with test settings; its OpenAPI needs no lifespan): every
route the table gives that service is in the service's OpenAPI under the same method and the
same path, parameter names included; every /v1 route the service serves is in the table; and
the scope the service itself requires (`RequireScope`) is the table's scope for that route. The
gateway's own /v1 routes are held to the same first two rules against the gateway app.

The checks are functions over a table, so the last tests can show that they bite: a route added
to the table with no service behind it fails them."""

from __future__ import annotations

import importlib
from functools import cache
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts

from gateway.routes import GATEWAY, ROUTES, Route, _route
from shared.service import required_scopes

SERVICES = ("intake", "verification", "eligibility", "contracts", "payments", "reporting")
HTTP_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})


@cache
def service_app(service: str) -> FastAPI:
    main = importlib.import_module(f"services.{service}.main")
    settings_class = getattr(importlib.import_module(f"services.{service}.settings"),
                             f"{service.capitalize()}Settings")
    return main.create_app(settings_class(environment="test"))


def openapi_operations(app: FastAPI) -> set[tuple[str, str]]:
    """(METHOD, path) of every operation the app documents."""
    return {(method.upper(), path) for path, item in app.openapi().get("paths", {}).items()
            for method in item if method.upper() in HTTP_METHODS}


def served_v1_operations(app: FastAPI) -> set[tuple[str, str]]:
    """(METHOD, path) of every /v1 route the app serves, documented or not."""
    served = {(method, path) for method, path in openapi_operations(app) if path.startswith("/v1/")}
    for route in iter_route_contexts(app.routes):  # included routers flattened, prefixes applied
        path = route.path or ""
        if path.startswith("/v1/"):
            served |= {(method, path) for method in route.methods or () if method in HTTP_METHODS}
    return served


def unserved(table: tuple[Route, ...], service: str, operations: set[tuple[str, str]]) -> list[str]:
    """Routes the table gives `service` that it does not serve under that method and path."""
    return [f"{route.method} {route.path}" for route in table
            if route.service == service and (route.method, route.path) not in operations]


def untabled(table: tuple[Route, ...], service: str, operations: set[tuple[str, str]]) -> list[str]:
    """/v1 routes `service` serves that the table does not give it."""
    listed = {(route.method, route.path) for route in table if route.service == service}
    return sorted(f"{method} {path}" for method, path in operations
                  if path.startswith("/v1/") and (method, path) not in listed)


def scope_mismatches(table: tuple[Route, ...], service: str, app: FastAPI) -> list[str]:
    """Service routes whose RequireScope differs from the table's scope for them."""
    scopes = {(route.method, route.path): route.scope for route in table if route.service == service}
    found = []
    for route in iter_route_contexts(app.routes):
        if not isinstance(route.original_route, APIRoute) or not (route.path or "").startswith("/v1/"):
            continue
        declared = required_scopes(route)
        for method in sorted(route.methods & HTTP_METHODS):
            expected = scopes.get((method, route.path))
            if expected is not None and declared != {expected}:
                found.append(f"{method} {route.path}: the table needs {expected!r}, the service declares "
                             f"{sorted(declared) or 'no RequireScope'}")
    return found


# ---- the real table against the real services ----------------------------------------------


def test_every_route_names_a_known_owner() -> None:
    assert {route.service for route in ROUTES} <= {*SERVICES, GATEWAY}


@pytest.mark.parametrize("service", SERVICES)
def test_every_table_route_is_served_by_its_service(service: str) -> None:
    missing = unserved(ROUTES, service, openapi_operations(service_app(service)))
    assert missing == [], f"in gateway/routes.py but not served by {service}: {missing}"


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_route_is_in_the_table(service: str) -> None:
    extra = untabled(ROUTES, service, served_v1_operations(service_app(service)))
    assert extra == [], f"served by {service} but missing from gateway/routes.py: {extra}"


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_route_requires_the_table_scope(service: str) -> None:
    wrong = scope_mismatches(ROUTES, service, service_app(service))
    assert wrong == [], f"{service} checks another scope than gateway/routes.py: " + "; ".join(wrong)


@pytest.fixture(scope="module")
def gateway_app(tmp_path_factory) -> FastAPI:
    from gateway.main import create_app
    from gateway.settings import GatewaySettings

    return create_app(GatewaySettings(environment="test", key_dir=tmp_path_factory.mktemp("gateway-keys")))


def test_the_gateways_own_routes_are_in_the_table_and_served(gateway_app: FastAPI) -> None:
    served = served_v1_operations(gateway_app)
    own_v1 = tuple(route for route in ROUTES if route.service == GATEWAY and route.path.startswith("/v1/"))
    assert unserved(own_v1, GATEWAY, served) == []
    assert untabled(ROUTES, GATEWAY, served) == []


# ---- the checks bite -----------------------------------------------------------------------


def _with(*extra: Route) -> tuple[Route, ...]:
    return ROUTES + extra


def test_a_table_route_no_service_serves_is_caught() -> None:
    reopen = _route("POST", "/v1/applications/{application_id}/reopen", "intake", "applications:write")
    assert unserved(_with(reopen), "intake", openapi_operations(service_app("intake"))) == [
        "POST /v1/applications/{application_id}/reopen"]


def test_a_table_route_with_other_parameter_names_is_caught() -> None:
    renamed = _route("GET", "/v1/contracts/{id}", "contracts", "contracts:read")
    table = tuple(route for route in ROUTES if route.path != "/v1/contracts/{contract_id}") + (renamed,)
    assert unserved(table, "contracts", openapi_operations(service_app("contracts"))) == ["GET /v1/contracts/{id}"]


def test_a_service_route_missing_from_the_table_is_caught() -> None:
    table = tuple(route for route in ROUTES if route.path != "/v1/stats/regions")
    assert untabled(table, "reporting", served_v1_operations(service_app("reporting"))) == ["GET /v1/stats/regions"]


def test_a_scope_that_differs_from_the_table_is_caught() -> None:
    # Whatever reporting declares, the table now asks for a scope it cannot be declaring.
    table = tuple(route for route in ROUTES if route.path != "/v1/stats/summary") + (
        _route("GET", "/v1/stats/summary", "reporting", "payments:read"),)
    wrong = scope_mismatches(table, "reporting", service_app("reporting"))
    assert any(line.startswith("GET /v1/stats/summary: the table needs 'payments:read'") for line in wrong), wrong
