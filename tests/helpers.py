"""Small builders shared by the HTTP tests."""

import os
from collections.abc import Collection
from typing import Any, NoReturn

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Table, TextClause, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from db_postgres_service.models import Base
from db_postgres_service.resources import RESOURCES

PROBLEM = "application/problem+json"
# Registered with every scope in each database the suite migrates (conftest.py).
TEST_API_KEY = "dps_test-key-with-every-scope-0000000000000000000"
ARGON2_HASH = (
    "$argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHRzb21lc2FsdA$"
    "9sTbSlTio3Biev89thdrlKKiCaYsjjYVJxGAL3swxpg"
)
BCRYPT_HASH = "$2b$12$GhvMmNVjRW29ulnudl.LbuAnUtN/LRfe1JsBm1Xu6LE3059z5Tr8m"


def asyncpg_dsn(url: str) -> str:
    """The libpq form of a SQLAlchemy URL, for asyncpg.connect()."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def service_tables() -> list[Table]:
    """Every table of the service, a referenced table before those that refer to it: its own
    and those of every registered resource (importing RESOURCES put their models on the
    metadata, as it does for the migrations)."""
    assert RESOURCES, "no resource is registered"
    return Base.metadata.sorted_tables


async def tables_holding_rows(dsn: str) -> frozenset[str]:
    """The service's tables that hold at least one row in the database of `dsn`."""
    connection = await asyncpg.connect(dsn)
    try:
        holding: set[str] = set()
        for table in service_tables():
            # The name comes from the models, not from any input.
            query = f'SELECT EXISTS (SELECT FROM "{table.name}")'  # noqa: S608
            if await connection.fetchval(query):
                holding.add(table.name)
        return frozenset(holding)
    finally:
        await connection.close()


def emptying(seeded: Collection[str]) -> TextClause:
    """TRUNCATE, ids restarting at 1, every table of the service that a just-migrated database
    holds no row in; `seeded` names those it does (the test client's key, the signing key),
    which stay. So what requests write goes, a resource registered tomorrow's tables included,
    and (CASCADE) the tables of test resources that refer to them."""
    emptied = [f'"{table.name}"' for table in service_tables() if table.name not in seeded]
    assert emptied, "no table to empty"
    return text(f"TRUNCATE {', '.join(emptied)} RESTART IDENTITY CASCADE")


def new_user(name: str = "alice", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "email": f"{name}@example.com",
        "username": name,
        "password": "correct horse battery",
    }
    body.update(overrides)
    return body


async def create(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    response = await client.post("/api/v1/users", json=new_user(**fields))
    assert response.status_code == 201, response.text
    user: dict[str, Any] = response.json()
    return user


def assert_problem(response: httpx.Response, status: int, kind: str) -> dict[str, Any]:
    """The response is the RFC 9457 problem the contract names, with the request's id."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["type"] == f"https://db-postgres-service/problems/{kind}"
    assert body["status"] == status
    assert body["title"]
    assert body["detail"]
    assert body["request_id"] == response.headers["x-request-id"]
    return body


def engine_for(app: FastAPI) -> AsyncEngine:
    """A SQLAlchemy engine on the app's database, for tests to read and arrange rows with (the
    service itself only uses its asyncpg pool). Without a pool, so that it serves any test's
    event loop."""
    engine: AsyncEngine | None = getattr(app.state, "test_engine", None)
    if engine is None:
        engine = create_async_engine(app.state.settings.database_url, poolclass=NullPool)
        app.state.test_engine = engine
    return engine


class Database:
    """Reads the database directly, to assert what a request really changed."""

    def __init__(self, app: FastAPI) -> None:
        self.engine = engine_for(app)

    async def rows(self, sql: str, **params: Any) -> list[dict[str, Any]]:
        async with self.engine.connect() as connection:
            result = await connection.execute(text(sql), params)
            return [dict(row._mapping) for row in result]

    async def scalar(self, sql: str, **params: Any) -> Any:
        async with self.engine.connect() as connection:
            return (await connection.execute(text(sql), params)).scalar()


def http_client(
    transport: httpx.AsyncBaseTransport, key: str | None = TEST_API_KEY
) -> httpx.AsyncClient:
    """A client of the app that authenticates with `key` (None: no Authorization header)."""
    headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
    return httpx.AsyncClient(transport=transport, base_url="http://testserver", headers=headers)


def sample(text: str, name: str, **labels: str) -> float:
    """The value of the Prometheus series `name` with these labels in `text`, 0 when absent."""
    wanted = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith(f"{name}{{") and all(part in line for part in wanted.split(",")):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def skip_for_lack_of(reason: str) -> NoReturn:
    """Skip a test whose tool or service this machine lacks, saying which; under
    DPS_REQUIRE_EVERY_TEST (.ci/run sets it) fail instead: CI runs every test."""
    if os.environ.get("DPS_REQUIRE_EVERY_TEST"):
        pytest.fail(f"{reason}; DPS_REQUIRE_EVERY_TEST forbids skipping")
    pytest.skip(reason)
