"""API keys: every /api/v1 route needs a live key holding the route's scope."""

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from db_postgres_service.clients import create_client, revoke_client
from db_postgres_service.main import create_app

from .conftest import make_settings
from .helpers import TEST_API_KEY, assert_problem, create, engine_for, http_client, new_user

UNREACHABLE_DATABASE = "postgresql://postgres@127.0.0.1:1/nothing"


@pytest.fixture
def transport(app: FastAPI) -> httpx.ASGITransport:
    return httpx.ASGITransport(app=app)


async def key_with(database_url: str, *scopes: str, name: str = "caller") -> str:
    return await create_client(database_url, name, list(scopes))


async def test_a_request_without_a_key_is_401_with_www_authenticate(
    transport: httpx.ASGITransport,
) -> None:
    async with http_client(transport, key=None) as anonymous:
        response = await anonymous.get("/api/v1/users")

    assert_problem(response, 401, "unauthorized")
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "authorization",
    ["Bearer dps_not-a-key", "Basic dXNlcjpwYXNz", f"Token {TEST_API_KEY}", "Bearer", ""],
)
async def test_a_wrong_key_or_scheme_is_401(
    transport: httpx.ASGITransport, authorization: str
) -> None:
    async with http_client(transport, key=None) as anonymous:
        response = await anonymous.get("/api/v1/users", headers={"Authorization": authorization})

    assert_problem(response, 401, "unauthorized")


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "BeArEr"])
async def test_the_scheme_name_is_case_insensitive(
    transport: httpx.ASGITransport, scheme: str
) -> None:
    async with http_client(transport, key=None) as anonymous:
        response = await anonymous.get(
            "/api/v1/users", headers={"Authorization": f"{scheme} {TEST_API_KEY}"}
        )

    assert response.status_code == 200


async def test_a_key_without_the_write_scope_cannot_create(
    transport: httpx.ASGITransport, database_url: str
) -> None:
    key = await key_with(database_url, "users:read", "users:authenticate")
    async with http_client(transport, key=key) as reader:
        response = await reader.post("/api/v1/users", json=new_user())
        listed = await reader.get("/api/v1/users")

    assert_problem(response, 403, "forbidden")
    assert listed.status_code == 200
    assert listed.json()["items"] == []


async def test_a_key_without_the_read_scope_cannot_read(
    transport: httpx.ASGITransport, client: httpx.AsyncClient, database_url: str
) -> None:
    user = await create(client)
    key = await key_with(database_url, "users:write")
    async with http_client(transport, key=key) as writer:
        response = await writer.get(f"/api/v1/users/{user['id']}")
        deleted = await writer.delete(f"/api/v1/users/{user['id']}")

    assert_problem(response, 403, "forbidden")
    assert deleted.status_code == 204


async def test_authenticate_needs_its_own_scope(
    transport: httpx.ASGITransport, client: httpx.AsyncClient, database_url: str
) -> None:
    await create(client, name="alice")
    login = {"login": "alice", "password": "correct horse battery"}
    writer_key = await key_with(database_url, "users:read", "users:write")
    checker_key = await key_with(database_url, "users:authenticate", name="login")
    async with http_client(transport, key=writer_key) as writer:
        refused = await writer.post("/api/v1/users/authenticate", json=login)
    async with http_client(transport, key=checker_key) as checker:
        accepted = await checker.post("/api/v1/users/authenticate", json=login)

    assert_problem(refused, 403, "forbidden")
    assert accepted.status_code == 200


@pytest.mark.parametrize("key", [None, TEST_API_KEY])
async def test_an_unknown_route_is_404_with_or_without_a_key(
    transport: httpx.ASGITransport, key: str | None
) -> None:
    async with http_client(transport, key=key) as caller:
        response = await caller.get("/api/v1/nothing-here")

    assert_problem(response, 404, "not-found")


@pytest.mark.parametrize("path", ["/health", "/health/ready", "/docs", "/openapi.json"])
async def test_operations_routes_need_no_key(transport: httpx.ASGITransport, path: str) -> None:
    async with http_client(transport, key=None) as anonymous:
        response = await anonymous.get(path)

    assert response.status_code == 200


async def test_a_revoked_key_stops_working_within_five_seconds(
    transport: httpx.ASGITransport, database_url: str
) -> None:
    key = await key_with(database_url, "users:read", name="leaving")
    async with http_client(transport, key=key) as leaving:
        assert (await leaving.get("/api/v1/users")).status_code == 200

        await revoke_client(database_url, "leaving", None)
        revoked_at = time.monotonic()
        while (await leaving.get("/api/v1/users")).status_code == 200:
            assert time.monotonic() - revoked_at < 5, "the revoked key still works after 5 s"
            await asyncio.sleep(0.2)

        assert_problem(await leaving.get("/api/v1/users"), 401, "unauthorized")


async def test_a_new_key_works_at_once_and_only_its_hash_is_stored(
    transport: httpx.ASGITransport, database_url: str, client: httpx.AsyncClient
) -> None:
    key = await key_with(database_url, "users:read", name="fresh")

    async with http_client(transport, key=key) as fresh:
        assert (await fresh.get("/api/v1/users")).status_code == 200
    assert key.startswith("dps_")
    app: FastAPI = transport.app  # type: ignore[assignment]
    async with engine_for(app).connect() as connection:
        stored = (
            await connection.execute(
                text("SELECT key_prefix, key_hash FROM api_clients WHERE name = 'fresh'")
            )
        ).one()
    assert key not in repr(stored)
    assert key.startswith(stored.key_prefix)


@pytest.fixture
async def unreachable_transport() -> AsyncIterator[httpx.ASGITransport]:
    app = create_app(make_settings(UNREACHABLE_DATABASE))
    async with app.router.lifespan_context(app):
        yield httpx.ASGITransport(app=app)


async def test_a_key_that_cannot_be_checked_because_the_database_is_down_is_503(
    unreachable_transport: httpx.ASGITransport,
) -> None:
    async with http_client(unreachable_transport) as caller:
        response = await caller.get("/api/v1/users")

    assert_problem(response, 503, "service-unavailable")
    assert "retry-after" in response.headers


async def test_idempotency_keys_are_scoped_to_the_calling_client(
    transport: httpx.ASGITransport, database_url: str, client: httpx.AsyncClient
) -> None:
    other = await key_with(database_url, "users:write", name="other")
    headers = {"Idempotency-Key": "shared-key"}

    first = await client.post("/api/v1/users", json=new_user("alice"), headers=headers)
    async with http_client(transport, key=other) as other_client:
        second = await other_client.post("/api/v1/users", json=new_user("bob"), headers=headers)

    assert (first.status_code, second.status_code) == (201, 201)
    assert "idempotent-replayed" not in second.headers


async def test_the_openapi_document_declares_the_bearer_scheme_and_its_problems(
    client: httpx.AsyncClient,
) -> None:
    document = (await client.get("/openapi.json")).json()

    assert document["components"]["securitySchemes"]["apiKey"]["scheme"] == "bearer"
    operation = document["paths"]["/api/v1/users/{user_id}"]["get"]
    assert operation["security"] == [{"apiKey": ["users:read"]}]
    assert {"401", "403"} <= set(operation["responses"])
    assert document["paths"]["/health"]["get"]["security"] == []
