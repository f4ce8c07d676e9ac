"""Scopes are declared on each route and read from there by authentication, the OpenAPI
document and the CLI: a route that declares none cannot serve at all."""

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from starlette.types import Receive, Scope, Send
from typer.testing import CliRunner

from db_postgres_service.api.problems import install_problem_handlers
from db_postgres_service.api.route_table import RouteTable
from db_postgres_service.api.scopes import PUBLIC, UndeclaredScope, requires
from db_postgres_service.cli import app as cli
from db_postgres_service.clients import create_client
from db_postgres_service.main import create_app

from .conftest import make_settings
from .helpers import assert_problem, http_client

# CONTRACT.md "Authentication", route by route: the words of the contract for the routes it
# names. Every other route, a resource registered tomorrow's included, is held to the rule
# that the contract states (test_every_api_route_declares_a_scope_of_the_resource_it_serves).
CONTRACT_SCOPES = {
    ("POST", "/api/v1/users"): "users:write",
    ("POST", "/api/v1/users/batch"): "users:write",
    ("POST", "/api/v1/users/authenticate"): "users:authenticate",
    ("GET", "/api/v1/users"): "users:read",
    ("GET", "/api/v1/users/{user_id}"): "users:read",
    ("GET", "/api/v1/users/by_username/{username}"): "users:read",
    ("GET", "/api/v1/users/by_email/{email}"): "users:read",
    ("PATCH", "/api/v1/users/{user_id}"): "users:write",
    ("DELETE", "/api/v1/users/{user_id}"): "users:write",
    ("POST", "/api/v1/organizations"): "organizations:write",
    ("GET", "/api/v1/organizations"): "organizations:read",
    ("GET", "/api/v1/organizations/{organization_id}"): "organizations:read",
    ("GET", "/api/v1/organizations/by_slug/{slug}"): "organizations:read",
    ("PATCH", "/api/v1/organizations/{organization_id}"): "organizations:write",
    ("DELETE", "/api/v1/organizations/{organization_id}"): "organizations:write",
    ("PUT", "/api/v1/organizations/{organization_id}/members/{user_id}"): "organizations:write",
    ("GET", "/api/v1/organizations/{organization_id}/members/{user_id}"): "organizations:read",
    ("DELETE", "/api/v1/organizations/{organization_id}/members/{user_id}"): (
        "organizations:write"
    ),
    ("GET", "/api/v1/organizations/{organization_id}/members"): "organizations:read",
    ("GET", "/api/v1/users/{user_id}/organizations"): "organizations:read",
}


def _api_scopes(app: FastAPI) -> dict[tuple[str, str], str | None]:
    return {
        (method, endpoint.route.path_format): endpoint.required_scope
        for endpoint in RouteTable(app.routes).endpoints
        if isinstance(endpoint.route, APIRoute) and endpoint.route.path.startswith("/api/")
        for method in endpoint.route.methods
    }


def test_every_contract_route_declares_exactly_the_scope_the_contract_gives_it() -> None:
    declared = _api_scopes(create_app())

    assert {route: declared.get(route) for route in CONTRACT_SCOPES} == CONTRACT_SCOPES


def _breaking_the_scope_rule(
    declared: dict[tuple[str, str], str | None],
) -> set[tuple[str, str, str | None]]:
    """The routes that break CONTRACT.md's rule: "`<resource>:read` for its GET routes,
    `<resource>:write` for the rest".

    A route serves the last resource its path names: `/users/{user_id}/organizations` lists
    organizations (memberships), and `/organizations/{id}/members/...` are organizations' too,
    as the contract says. The resources are those the routes' scopes name, so a path that names
    none of them, or a scope of a resource the path does not end with, breaks the rule. A POST
    action may instead hold a scope named after it, declared by that route alone
    (`users:authenticate`).
    """
    resources = {scope.split(":")[0] for scope in declared.values() if scope is not None}
    actions: dict[str, list[tuple[str, str]]] = {}
    breaking: set[tuple[str, str, str | None]] = set()
    for (method, path), scope in declared.items():
        named = [segment for segment in path.split("/") if segment in resources]
        resource, _, access = (scope or "").partition(":")
        if not named or resource != named[-1]:
            breaking.add((method, path, scope))
        elif method in {"GET", "HEAD"}:
            if access != "read":
                breaking.add((method, path, scope))
        elif access != "write":
            if (method, access) != ("POST", path.rsplit("/", 1)[1]):
                breaking.add((method, path, scope))
            actions.setdefault(str(scope), []).append((method, path))
    for routes in actions.values():
        if len(routes) > 1:
            breaking |= {(method, path, declared[(method, path)]) for method, path in routes}
    return breaking


def test_every_api_route_declares_a_scope_of_the_resource_it_serves() -> None:
    declared = _api_scopes(create_app())

    assert set(CONTRACT_SCOPES) <= set(declared)
    assert _breaking_the_scope_rule(declared) == set()


def test_the_scope_rule_catches_a_route_holding_the_wrong_scope() -> None:
    router = APIRouter()
    for method, path, scope in [
        ("GET", "/api/v1/orders", "orders:read"),  # as the rule says
        ("POST", "/api/v1/orders/{order_id}/refund", "orders:refund"),  # an action's own scope
        ("PATCH", "/api/v1/orders/{order_id}", "orders:read"),  # a change with a read scope
        ("GET", "/api/v1/invoices", "orders:read"),  # a path of no resource of its scope
        ("GET", "/api/v1/users/{user_id}/orders", "users:read"),  # orders read with users'
        # An action's scope that another route holds too.
        ("POST", "/api/v1/orders/{order_id}/cancel", "orders:cancel"),
        ("POST", "/api/v1/orders/{order_id}/ship", "orders:cancel"),
    ]:
        router.add_api_route(path, _orders, methods=[method], dependencies=[requires(scope)])
    app = create_app()
    app.include_router(router)

    assert _breaking_the_scope_rule(_api_scopes(app)) == {
        ("PATCH", "/api/v1/orders/{order_id}", "orders:read"),
        ("GET", "/api/v1/invoices", "orders:read"),
        ("GET", "/api/v1/users/{user_id}/orders", "users:read"),
        ("POST", "/api/v1/orders/{order_id}/cancel", "orders:cancel"),
        ("POST", "/api/v1/orders/{order_id}/ship", "orders:cancel"),
    }


def test_the_openapi_document_shows_each_operation_s_scope_and_the_open_ones() -> None:
    app = create_app()
    document = app.openapi()
    paths = document["paths"]

    shown = {
        (method.upper(), path): operation["security"]
        for path, operations in paths.items()
        for method, operation in operations.items()
    }

    declared = _api_scopes(app)
    assert set(CONTRACT_SCOPES) <= set(declared)
    for (method, path), scope in declared.items():
        assert shown[(method, path)] == [{"apiKey": [scope]}]
    for path in ("/health", "/health/ready", "/metrics"):
        assert shown[("GET", path)] == []
    assert document["components"]["securitySchemes"]["apiKey"]["scheme"] == "bearer"


async def _orders() -> dict[str, list[object]]:
    return {"items": []}


def _orders_router(*, scoped: bool) -> APIRouter:
    router = APIRouter()
    dependencies = [requires("orders:read")] if scoped else []
    router.add_api_route("/api/v1/orders", _orders, methods=["GET"], dependencies=dependencies)
    return router


def test_a_route_without_a_declared_scope_stops_the_application_from_starting() -> None:
    app = create_app()
    app.include_router(_orders_router(scoped=False))

    with pytest.raises(UndeclaredScope, match="/api/v1/orders must declare exactly one scope"):
        app.build_middleware_stack()


def test_a_route_outside_the_api_must_say_it_is_public() -> None:
    router = APIRouter()
    router.add_api_route("/status", _orders, methods=["GET"])
    public = APIRouter()
    public.add_api_route("/status", _orders, methods=["GET"], openapi_extra=PUBLIC)

    with pytest.raises(UndeclaredScope, match="must be openapi_extra=PUBLIC"):
        RouteTable(router.routes)
    assert RouteTable(public.routes).scopes == frozenset()


@pytest.fixture
async def app_with_orders(database_url: str) -> AsyncIterator[FastAPI]:
    app = create_app(make_settings(database_url))
    app.include_router(_orders_router(scoped=True))
    async with app.router.lifespan_context(app):
        yield app


async def test_a_scope_of_one_resource_grants_nothing_on_another(
    app_with_orders: FastAPI, database_url: str
) -> None:
    key = await create_client(database_url, "users-only", ["users:read", "users:write"])
    orders_key = await create_client(database_url, "orders-reader", ["orders:read"])
    transport = httpx.ASGITransport(app=app_with_orders)
    async with http_client(transport, key=key) as users_only:
        refused = await users_only.get("/api/v1/orders")
    async with http_client(transport, key=orders_key) as orders_reader:
        served = await orders_reader.get("/api/v1/orders")
        not_users = await orders_reader.get("/api/v1/users")

    problem = assert_problem(refused, 403, "forbidden")
    assert problem["detail"] == "The key of 'users-only' lacks the scope orders:read."
    assert served.status_code == 200
    assert served.json() == {"items": []}
    assert_problem(not_users, 403, "forbidden")


async def test_a_known_path_with_another_method_needs_a_key_before_it_answers_405(
    app_with_orders: FastAPI, database_url: str
) -> None:
    key = await create_client(database_url, "orders-reader", ["orders:read"])
    transport = httpx.ASGITransport(app=app_with_orders)
    async with http_client(transport, key=None) as anonymous:
        anonymous_answer = await anonymous.put("/api/v1/users/1", json={})
    async with http_client(transport, key=key) as caller:
        known_answer = await caller.put("/api/v1/users/1", json={})

    assert_problem(anonymous_answer, 401, "unauthorized")
    assert_problem(known_answer, 405, "method-not-allowed")
    assert known_answer.headers["allow"] == "GET, HEAD, PATCH, DELETE"


async def test_the_route_checks_its_own_scope_behind_the_authentication_layer() -> None:
    """A request that reached a route without the authentication layer's check (here: no
    such layer at all) is refused by the route's own declaration."""
    bare = FastAPI()
    install_problem_handlers(bare)
    bare.include_router(_orders_router(scoped=True))

    async def holding_a_users_key(scope: Scope, receive: Receive, send: Send) -> None:
        scope["state"] = {"request_id": "r-1", "scopes": frozenset({"users:read"})}
        await bare(scope, receive, send)

    transport = httpx.ASGITransport(app=holding_a_users_key)
    async with http_client(transport, key=None) as caller:
        response = await caller.get("/api/v1/orders")

    assert response.status_code == 403
    assert response.json()["type"] == "https://db-postgres-service/problems/forbidden"
    assert response.json()["detail"] == "The key lacks the scope orders:read."


def _route_scopes() -> list[str]:
    """Every scope the app's routes declare, sorted; the contract's among them."""
    scopes = sorted(RouteTable(create_app().routes).scopes)
    assert set(CONTRACT_SCOPES.values()) <= set(scopes)
    return scopes


def test_clients_create_refuses_a_scope_no_route_declares() -> None:
    result = CliRunner().invoke(cli, ["clients", "create", "billing", "--scope", "orders:read"])

    assert result.exit_code != 0
    assert "No route needs the scope 'orders:read'" in result.output
    assert ", ".join(_route_scopes()) in result.output


def test_clients_scopes_lists_what_the_routes_declare() -> None:
    result = CliRunner().invoke(cli, ["clients", "scopes"])

    assert result.exit_code == 0
    assert result.output.split() == _route_scopes()
