"""Fixtures: a real PostgreSQL, a throw-away database per run, the app served over HTTP.

With DATABASE_URL set, the suite uses that server (through its maintenance database) to create
and drop its own databases; otherwise it starts an embedded PostgreSQL in a temporary folder.
It never drops a database it did not create.
"""

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.engine import make_url

from db_postgres_service.api.route_table import RouteTable
from db_postgres_service.core.api_keys import key_digest
from db_postgres_service.core.config import Settings
from db_postgres_service.core.migrations import upgrade_to_head
from db_postgres_service.dev.embedded_postgres import EmbeddedPostgres
from db_postgres_service.main import create_app

from .events import replay_mismatches
from .helpers import (
    TEST_API_KEY,
    Database,
    asyncpg_dsn,
    emptying,
    engine_for,
    http_client,
    tables_holding_rows,
)
from .serving import Service, free_port, wait_until, with_suppressed_lookup

# Every scope the routes declare: the test key may do anything.
API_SCOPES = RouteTable(create_app().routes).scopes


def with_database(url: str, database: str) -> str:
    return make_url(url).set(database=database).render_as_string(hide_password=False)


async def _admin(server_url: str, statement: str) -> None:
    connection = await asyncpg.connect(asyncpg_dsn(server_url))
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


async def _register_test_client(url: str) -> None:
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await connection.execute(
            "INSERT INTO api_clients (name, key_prefix, key_hash, scopes) VALUES ($1, $2, $3, $4)",
            "tests",
            TEST_API_KEY[:12],
            key_digest(TEST_API_KEY),
            sorted(API_SCOPES),
        )
    finally:
        await connection.close()


class ThrowAwayDatabases:
    """Creates uniquely named databases on one server and drops exactly those."""

    def __init__(self, server_url: str) -> None:
        self.server_url = Settings(database_url=server_url).database_url
        self.created: list[str] = []
        self._seeded: frozenset[str] | None = None

    @property
    def seeded(self) -> frozenset[str]:
        """The tables that hold rows in a database just migrated (with the test client): what
        each test starts from keeps those, and empties the others (helpers.emptying)."""
        assert self._seeded is not None, "measured when the first migrated database is made"
        return self._seeded

    def create(self, *, migrated: bool = True, copy_of: str | None = None) -> str:
        """A new database: migrated (with the test client), empty, or a copy of another of
        these (which nothing may be connected to meanwhile)."""
        name = f"dps_test_{uuid.uuid4().hex[:12]}"
        template = f' TEMPLATE "{make_url(copy_of).database}"' if copy_of else ""
        asyncio.run(_admin(self.server_url, f'CREATE DATABASE "{name}"{template}'))
        self.created.append(name)
        url = with_database(self.server_url, name)
        if migrated and not copy_of:
            upgrade_to_head(url)
            asyncio.run(_register_test_client(url))
            if self._seeded is None:
                self._seeded = asyncio.run(tables_holding_rows(asyncpg_dsn(url)))
        return url

    async def acreate(self, *, migrated: bool = True, copy_of: str | None = None) -> str:
        """`create` from a coroutine: asyncio.run and Alembic need a thread without a loop."""
        return await asyncio.to_thread(self.create, migrated=migrated, copy_of=copy_of)

    def drop_all(self) -> None:
        for name in self.created:
            asyncio.run(_admin(self.server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    configured = os.environ.get("DATABASE_URL")
    if configured:
        yield configured
        return
    # Not under pytest's tmp_path: as root that lies in a 0700 folder the unprivileged server
    # account cannot reach.
    data_dir = Path(tempfile.mkdtemp(prefix="dps-test-pg-"))
    try:
        with EmbeddedPostgres(data_dir, fast_and_unsafe=True) as server:
            yield server.url
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def databases(server_url: str) -> Iterator[ThrowAwayDatabases]:
    registry = ThrowAwayDatabases(server_url)
    try:
        yield registry
    finally:
        registry.drop_all()


@pytest.fixture(scope="session")
def database_url(databases: ThrowAwayDatabases) -> str:
    """The suite's main database, migrated to head."""
    return databases.create()


def make_settings(database_url: str, **overrides: Any) -> Settings:
    return Settings(database_url=database_url, **overrides)


@asynccontextmanager
async def strict_client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app started with REQUIRE_IF_MATCH on, over the suite's database."""
    strict: FastAPI = create_app(make_settings(database_url, require_if_match=True))
    async with strict.router.lifespan_context(strict):
        transport = httpx.ASGITransport(app=strict)
        async with http_client(transport) as client:
            yield client


@pytest.fixture(scope="session")
async def app(database_url: str) -> AsyncIterator[FastAPI]:
    application = create_app(make_settings(database_url))
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with http_client(transport) as client:
        yield client


@pytest.fixture(autouse=True)
async def _empty_tables(request: pytest.FixtureRequest) -> None:
    """Each test that uses the app starts from empty tables, whatever ran before it."""
    if "app" not in request.fixturenames:
        return
    application: FastAPI = request.getfixturevalue("app")
    databases: ThrowAwayDatabases = request.getfixturevalue("databases")
    async with engine_for(application).begin() as connection:
        await connection.execute(emptying(databases.seeded))


@pytest.fixture(autouse=True)
async def _every_change_is_reported(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """After each test that used the app, the change feed replayed gives the tables as they
    are: whatever routes the test called, every committed change wrote its event."""
    yield
    if "app" not in request.fixturenames or request.node.get_closest_marker(
        "writes_around_the_service"
    ):
        return
    application: FastAPI = request.getfixturevalue("app")
    connection = await asyncpg.connect(asyncpg_dsn(application.state.settings.database_url))
    try:
        mismatches = await replay_mismatches(connection, application.state.outbox)
    finally:
        await connection.close()
    assert not mismatches, "changes the feed did not report:\n" + "\n".join(mismatches)


@pytest.fixture
def db(app: FastAPI) -> Database:
    return Database(app)


@pytest.fixture
def service() -> Iterator[Service]:
    """The service started from a fresh folder without DATABASE_URL, as on a new machine."""
    # A fresh folder outside pytest's 0700 tmp tree, which the server account could not reach.
    workdir = Path(tempfile.mkdtemp(prefix="dps-serve-"))
    workdir.chmod(0o755)
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    environment.update(PORT=str(port), WEB_CONCURRENCY="1", LOG_LEVEL="WARNING")
    environment["NO_COLOR"] = "1"
    process = subprocess.Popen(
        [sys.executable, "-m", "db_postgres_service", "serve"],
        cwd=workdir,
        env=environment,
        stdout=(workdir / "output.log").open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    service = Service(process, f"http://127.0.0.1:{port}", workdir)
    try:
        assert wait_until(service.ready, 60), "the service did not become ready"
        yield service
    finally:
        # Whatever the test did to the main process, leave nothing of the group behind.
        with_suppressed_lookup(lambda: os.killpg(process.pid, signal.SIGKILL))
        process.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)
