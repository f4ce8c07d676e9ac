"""Through PgBouncer in transaction mode (DATABASE_POOL_MODE=transaction; CONTRACT.md, "Running
as many instances"): a server connection is the service's for one transaction only, so no named
prepared statement and no startup parameter PgBouncer does not know may reach it."""

import asyncio
import os
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from .conftest import ThrowAwayDatabases
from .helpers import asyncpg_dsn
from .pgbouncer import running_pgbouncer
from .serving import AUTH, serving

TESTS = Path(__file__).parent
# Fewer server connections than the service's pool: statements of different requests share them.
POOL_SIZE = 4
# Each instance's pool, far larger than PgBouncer's: what an operator sizing for direct
# connections would leave in place.
INSTANCE_POOL_SIZE = 32
REQUESTS = 600


@pytest.fixture(scope="module")
def pgbouncer_url(server_url: str) -> Iterator[str]:
    with running_pgbouncer(server_url, pool_mode="transaction", pool_size=POOL_SIZE) as url:
        yield url


def test_the_users_api_tests_pass_through_pgbouncer_in_transaction_mode(
    pgbouncer_url: str,
) -> None:
    modules = sorted(str(path) for path in TESTS.glob("test_users_*.py"))
    environment = {
        **os.environ,
        "DATABASE_URL": pgbouncer_url,
        "DATABASE_POOL_MODE": "transaction",
    }
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *modules],
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )

    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert " passed" in run.stdout.splitlines()[-1]
    assert "skipped" not in run.stdout.splitlines()[-1]


def test_the_test_pgbouncer_refuses_what_session_mode_would_send(pgbouncer_url: str) -> None:
    async def connect_with_a_startup_timeout() -> None:
        connection = await asyncpg.connect(
            asyncpg_dsn(pgbouncer_url), server_settings={"statement_timeout": "5000"}
        )
        await connection.close()

    with pytest.raises(asyncpg.ProtocolViolationError, match="unsupported startup parameter"):
        asyncio.run(connect_with_a_startup_timeout())


def _backends(server_url: str, database: str) -> int:
    async def count() -> int:
        connection = await asyncpg.connect(asyncpg_dsn(server_url))
        try:
            found: int = await connection.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = $1", database
            )
            return found
        finally:
            await connection.close()

    return asyncio.run(count())


def test_two_instances_with_large_pools_never_open_more_server_connections_than_pgbouncers(
    databases: ThrowAwayDatabases, pgbouncer_url: str
) -> None:
    direct = databases.create()
    name = make_url(direct).database
    assert name is not None
    through_pgbouncer = make_url(pgbouncer_url).set(database=name).render_as_string(False)
    with ExitStack() as stack:
        instances = [
            stack.enter_context(
                serving(
                    through_pgbouncer,
                    WEB_CONCURRENCY="1",
                    DATABASE_POOL_MODE="transaction",
                    DB_POOL_SIZE=str(INSTANCE_POOL_SIZE),
                )
            )
            for _ in range(2)
        ]
        clients = [
            stack.enter_context(httpx.Client(base_url=instance.base_url, timeout=60))
            for instance in instances
        ]
        user = clients[0].post(
            "/api/v1/users",
            json={"email": "pooled@example.com", "username": "pooled", "password": "correct horse"},
            headers=AUTH,
        )
        assert user.status_code == 201, user.text
        path = f"/api/v1/users/{user.json()['id']}"
        done = threading.Event()
        most_backends = 0

        def watch() -> None:
            nonlocal most_backends
            while not done.is_set():
                most_backends = max(most_backends, _backends(databases.server_url, name))

        watcher = threading.Thread(target=watch)
        watcher.start()
        try:
            with ThreadPoolExecutor(max_workers=64) as pool:
                statuses = Counter(
                    pool.map(
                        lambda number: clients[number % 2].get(path, headers=AUTH).status_code,
                        range(REQUESTS),
                    )
                )
        finally:
            done.set()
            watcher.join()

    assert statuses == Counter({200: REQUESTS})
    assert 0 < most_backends <= POOL_SIZE
