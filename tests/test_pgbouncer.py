"""Through PgBouncer in transaction mode (DATABASE_POOL_MODE=transaction; CONTRACT.md, "Running
as many instances"): a server connection is the service's for one transaction only, so no named
prepared statement and no startup parameter PgBouncer does not know may reach it."""

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from .helpers import asyncpg_dsn
from .pgbouncer import running_pgbouncer

TESTS = Path(__file__).parent
# Fewer server connections than the service's pool: statements of different requests share them.
POOL_SIZE = 4


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
