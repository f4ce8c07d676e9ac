"""The statement pool hands connections from statement to statement, and never strands one."""

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from db_postgres_service.core.database import PoolTimeout, StatementPool

from .conftest import asyncpg_dsn, make_settings


@pytest.fixture
async def pool_of_one(database_url: str) -> AsyncIterator[StatementPool]:
    settings = make_settings(database_url, db_pool_size=1, db_pool_timeout=1.0)
    pool = await StatementPool.open(settings)
    try:
        yield pool
    finally:
        await pool.close()


async def backend_pid(pool: StatementPool) -> int:
    async with pool.connection() as connection:
        pid: int = await connection.fetchval("SELECT pg_backend_pid()")
        return pid


async def test_consecutive_statements_reuse_one_connection(pool_of_one: StatementPool) -> None:
    assert await backend_pid(pool_of_one) == await backend_pid(pool_of_one)


async def test_a_statement_waiting_for_the_only_connection_gets_it_when_it_is_done(
    pool_of_one: StatementPool,
) -> None:
    release = asyncio.Event()

    async def hold() -> None:
        async with pool_of_one.connection() as connection:
            await connection.fetchval("SELECT 1")
            await release.wait()

    holder = asyncio.create_task(hold())
    await asyncio.sleep(0.05)
    waiter = asyncio.create_task(backend_pid(pool_of_one))
    await asyncio.sleep(0.05)
    assert not waiter.done()

    release.set()
    await holder

    assert await asyncio.wait_for(waiter, 0.5) > 0


async def test_a_statement_waits_no_longer_than_the_pool_timeout(
    pool_of_one: StatementPool,
) -> None:
    async with pool_of_one.connection():
        started = asyncio.get_running_loop().time()
        with pytest.raises(PoolTimeout):
            await backend_pid(pool_of_one)
        assert 0.9 < asyncio.get_running_loop().time() - started < 1.5


async def test_a_free_connection_the_server_ended_is_replaced(
    pool_of_one: StatementPool, database_url: str
) -> None:
    first = await backend_pid(pool_of_one)
    await end_backend(database_url, first)

    assert await backend_pid(pool_of_one) != first


async def test_a_connection_lost_during_a_statement_is_replaced(
    pool_of_one: StatementPool, database_url: str
) -> None:
    first = await backend_pid(pool_of_one)
    with pytest.raises((asyncpg.PostgresError, asyncpg.InterfaceError, OSError)):
        async with pool_of_one.connection() as connection:
            await connection.execute("SELECT pg_terminate_backend(pg_backend_pid())")

    assert await backend_pid(pool_of_one) != first


async def end_backend(database_url: str, pid: int) -> None:
    """End the server process `pid` and return once it is gone: pg_terminate_backend only
    signals it, and a connection ended meanwhile would be the other test's case."""
    admin = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        await admin.execute("SELECT pg_terminate_backend($1)", pid)
        alive = "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE pid = $1)"
        for _ in range(500):
            if not await admin.fetchval(alive, pid):
                break
            await asyncio.sleep(0.01)
    finally:
        await admin.close()
    # The client side hears of it on its next read of the socket: let the event loop run.
    await asyncio.sleep(0.05)
    await asyncio.sleep(0.1)  # for the news to reach the pooled connection
