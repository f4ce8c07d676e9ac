"""Behaviour under database faults, against a PostgreSQL cluster these tests start, stop and
restart themselves (never the machine's shared server, never DATABASE_URL's server).

The cluster listens on TCP on a fixed free port, so that its URL stays the same across
restarts; every test leaves it running for the next one.
"""

import asyncio
import shutil
import socket
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from db_postgres_service.core.database import APPLICATION_NAME
from db_postgres_service.core.migrations import upgrade_to_head
from db_postgres_service.dev.embedded_postgres import EmbeddedPostgres
from db_postgres_service.main import create_app

from .conftest import _register_test_client, asyncpg_dsn, make_settings
from .helpers import ARGON2_HASH, assert_problem, http_client

DATABASE = "dps_faults"


@dataclass(frozen=True)
class Cluster:
    server: EmbeddedPostgres
    url: str


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(scope="module")
async def cluster() -> AsyncIterator[Cluster]:
    # Not under pytest's tmp_path: as root that lies in a 0700 folder the unprivileged server
    # account cannot reach.
    data_dir = Path(tempfile.mkdtemp(prefix="dps-faults-pg-"))
    server = EmbeddedPostgres(data_dir, listen_tcp=True, port=_free_port(), fast_and_unsafe=True)
    try:
        # start() must run in the main thread, which is where pytest runs this fixture.
        server.start()
        await asyncio.to_thread(server.ensure_database, DATABASE)
        url = server.url_for(DATABASE)
        # Alembic runs its own event loop: it needs a thread without one.
        await asyncio.to_thread(upgrade_to_head, url)
        await _register_test_client(url)
        yield Cluster(server, url)
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


@contextmanager
def database_down(server: EmbeddedPostgres) -> Iterator[None]:
    """Stops the server for the block; it runs again afterwards, whatever happened."""
    server.stop()
    try:
        yield
    finally:
        if server.pid is None:
            server.start()


@asynccontextmanager
async def serving(url: str, **overrides: Any) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """A fresh app with these settings, started, and a client holding the test key."""
    app = create_app(make_settings(url, **overrides))
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app), http_client(transport) as client:
        yield app, client


async def new_user(client: httpx.AsyncClient, name: str) -> dict[str, Any]:
    """Creates a user through the app (which also puts the key's verdict in the cache)."""
    response = await client.post(
        "/api/v1/users",
        json={"email": f"{name}@example.com", "username": name, "password_hash": ARGON2_HASH},
    )
    assert response.status_code == 201, response.text
    user: dict[str, Any] = response.json()
    return user


@asynccontextmanager
async def row_locked(url: str, user_id: int) -> AsyncIterator[asyncpg.Connection]:
    """Holds `FOR UPDATE` on one user row from a connection of our own until the block ends."""
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        transaction = connection.transaction()
        await transaction.start()
        await connection.execute("SELECT id FROM users WHERE id = $1 FOR UPDATE", user_id)
        try:
            yield connection
        finally:
            await transaction.rollback()
    finally:
        await connection.close()


async def wait_until_the_app_waits_on_a_lock(observer: asyncpg.Connection) -> None:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        waiting = await observer.fetchval(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE application_name = $1 AND wait_event_type = 'Lock'",
            APPLICATION_NAME,
        )
        if waiting:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the app never started waiting on the row lock")


def assert_unavailable(response: httpx.Response) -> None:
    assert_problem(response, 503, "service-unavailable")
    assert response.headers["retry-after"].isdigit()


async def test_a_user_route_is_503_promptly_while_postgres_is_down(cluster: Cluster) -> None:
    async with serving(cluster.url) as (app, client):
        user = await new_user(client, "down")
        path = f"/api/v1/users/{user['id']}"

        with database_down(cluster.server):
            started = time.monotonic()
            response = await client.get(path)
            elapsed = time.monotonic() - started
            # A key without a cached verdict must be looked up, which meets the dead
            # database: 503, not 401.
            transport = httpx.ASGITransport(app=app)
            async with http_client(transport, key="dps_no-verdict-cached-yet") as unchecked:
                started = time.monotonic()
                uncached = await unchecked.get(path)
            uncached_elapsed = time.monotonic() - started
            liveness = await client.get("/health")
            readiness = await client.get("/health/ready")

    assert_unavailable(response)
    assert elapsed < 3
    assert_unavailable(uncached)
    assert uncached_elapsed < 3
    assert liveness.status_code == 200
    assert liveness.json() == {"status": "ok"}
    assert_problem(readiness, 503, "service-unavailable")


async def test_the_app_serves_again_by_itself_when_postgres_is_back(cluster: Cluster) -> None:
    async with serving(cluster.url) as (_, client):
        user = await new_user(client, "back")
        path = f"/api/v1/users/{user['id']}"

        with database_down(cluster.server):
            pass
        # The server runs again; the pool still holds the connection the shutdown killed, and
        # no request has found that out yet.

        statuses: list[int] = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            response = await client.get(path)
            statuses.append(response.status_code)
            if response.status_code == 200:
                break
            assert_unavailable(response)
            await asyncio.sleep(0.2)

    assert statuses[-1] == 200, statuses
    assert response.json()["id"] == user["id"]


async def test_a_database_that_accepts_but_never_answers_gives_503_within_the_connect_timeout(
    cluster: Cluster,
) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as silent:
        silent.bind(("127.0.0.1", 0))
        # The kernel completes the handshake; nothing ever accepts, reads or replies.
        silent.listen(16)
        port = silent.getsockname()[1]
        url = f"postgresql+asyncpg://postgres@127.0.0.1:{port}/{DATABASE}"

        async with serving(url, db_connect_timeout=1.0) as (_, client):
            started = time.monotonic()
            response = await client.get("/api/v1/users/1")
            elapsed = time.monotonic() - started

    # The key cannot be checked: 503, not 401.
    assert_unavailable(response)
    assert elapsed < 2.5


async def test_an_exhausted_pool_gives_503_after_the_pool_timeout(cluster: Cluster) -> None:
    # More requests may run than the pool has connections, so that one waits for the pool.
    settings = {"db_pool_size": 1, "db_pool_timeout": 0.5, "requests_per_worker": 4}
    async with serving(cluster.url, **settings) as (_, client):
        # Also caches the key's verdict (4 s), so the requests below need no connection for it.
        user = await new_user(client, "pool")
        path = f"/api/v1/users/{user['id']}"
        observer = await asyncpg.connect(asyncpg_dsn(cluster.url))
        try:
            async with row_locked(cluster.url, user["id"]):
                # Holds the app's only connection while it waits on the row lock.
                blocked = asyncio.create_task(client.patch(path, json={"username": "pool2"}))
                try:
                    await wait_until_the_app_waits_on_a_lock(observer)

                    started = time.monotonic()
                    # The list needs a connection of the same (exhausted) pool.
                    response = await client.get("/api/v1/users")
                    elapsed = time.monotonic() - started
                except BaseException:
                    blocked.cancel()
                    with suppress(BaseException):
                        await blocked
                    raise
            patched = await asyncio.wait_for(blocked, 10)
        finally:
            await observer.close()

    assert_unavailable(response)
    assert 0.4 < elapsed < 2
    assert patched.status_code == 200, patched.text
    assert patched.json()["username"] == "pool2"


async def test_a_statement_timeout_ends_a_runaway_query_with_503(cluster: Cluster) -> None:
    async with serving(cluster.url, db_statement_timeout_ms=300) as (_, client):
        user = await new_user(client, "slow")
        path = f"/api/v1/users/{user['id']}"
        async with row_locked(cluster.url, user["id"]):
            started = time.monotonic()
            response = await client.patch(path, json={"username": "slow2"})
            elapsed = time.monotonic() - started

        after = await client.get(path)

    assert_unavailable(response)
    assert elapsed < 2
    assert after.status_code == 200
    assert after.json()["username"] == "slow"
    assert after.json()["version"] == user["version"]


async def test_the_statement_timeout_is_set_on_every_connection(cluster: Cluster) -> None:
    async with (
        serving(cluster.url, db_statement_timeout_ms=300) as (app, _),
        app.state.statement_pool.connection() as statement_connection,
        app.state.statement_pool.transaction() as transaction,
    ):
        read_value = await statement_connection.fetchval("SHOW statement_timeout")
        in_transaction = await transaction.fetchval("SHOW statement_timeout")

    assert (read_value, in_transaction) == ("300ms", "300ms")


async def test_a_database_that_refuses_the_login_gives_503_not_500(cluster: Cluster) -> None:
    """Credentials revoked (or rotated) while the app runs: the server refuses every new
    connection with class 28 — the database is unavailable to the service, not a bug."""
    role = "dps_faults_app"
    admin = await asyncpg.connect(asyncpg_dsn(cluster.url))
    try:
        await admin.execute(f"CREATE ROLE {role} LOGIN")
        await admin.execute(f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {role}")
        await admin.execute(f"GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO {role}")
        url = cluster.url.replace("://postgres@", f"://{role}@")
        async with serving(url) as (_, client):
            # Also caches the key's verdict, so the requests below reach the route.
            user = await new_user(client, "refused")
            await admin.execute(f"ALTER ROLE {role} NOLOGIN")
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", role
            )

            # The first may meet the pooled connection the server ended; the next ones must
            # open a new connection, which the server refuses.
            responses = [await client.get(f"/api/v1/users/{user['id']}") for _ in range(3)]
    finally:
        await admin.execute(f"DROP OWNED BY {role}")
        await admin.execute(f"DROP ROLE IF EXISTS {role}")
        await admin.close()

    for response in responses:
        assert_unavailable(response)
