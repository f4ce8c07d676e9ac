"""GET /health (liveness) and /health/ready (readiness)."""

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI

from db_postgres_service.main import create_app

from .conftest import ThrowAwayDatabases, make_settings
from .helpers import assert_problem, http_client

UNREACHABLE_DATABASE = "postgresql://postgres@127.0.0.1:1/nothing"


@asynccontextmanager
async def client_for(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    app: FastAPI = create_app(make_settings(database_url))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with http_client(transport) as client:
            yield client


async def test_health_answers_ok(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_ready_answers_ok_when_the_database_is_migrated(client: httpx.AsyncClient) -> None:
    response = await client.get("/health/ready")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_ready_is_503_when_the_schema_is_not_migrated(
    databases: ThrowAwayDatabases,
) -> None:
    async with client_for(await databases.acreate(migrated=False)) as client:
        response = await client.get("/health/ready")

    problem = assert_problem(response, 503, "service-unavailable")
    assert "schema" in problem["detail"]
    assert "retry-after" in response.headers


async def test_ready_is_503_promptly_when_the_database_is_unreachable() -> None:
    async with client_for(UNREACHABLE_DATABASE) as client:
        started = time.monotonic()
        response = await client.get("/health/ready")
        elapsed = time.monotonic() - started

    problem = assert_problem(response, 503, "service-unavailable")
    assert "did not answer" in problem["detail"]
    assert elapsed < 3


async def test_health_stays_ok_while_the_database_is_unreachable() -> None:
    async with client_for(UNREACHABLE_DATABASE) as client:
        response = await client.get("/health")

    assert response.status_code == 200


async def test_a_user_route_is_503_while_the_database_is_unreachable() -> None:
    async with client_for(UNREACHABLE_DATABASE) as client:
        response = await client.get("/api/v1/users/1")

    assert_problem(response, 503, "service-unavailable")
    assert response.headers["retry-after"].isdigit()
