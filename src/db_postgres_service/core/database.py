"""Engine and per-request unit of work."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TypeAlias

import asyncpg
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from db_postgres_service.core.config import Settings

APPLICATION_NAME = "db-postgres-service"
ReadConnection: TypeAlias = "asyncpg.pool.PoolConnectionProxy[asyncpg.Record]"


def _server_settings(settings: Settings) -> dict[str, str]:
    server_settings = {"application_name": APPLICATION_NAME}
    if settings.db_statement_timeout_ms:
        server_settings["statement_timeout"] = str(settings.db_statement_timeout_ms)
    return server_settings


def create_engine(settings: Settings) -> AsyncEngine:
    """An engine whose every connection fails fast and cannot run away.

    The connect timeout bounds how long a request waits while PostgreSQL is down; the
    statement timeout is set per connection so that a runaway query ends with 503 instead of
    holding a pool slot forever.
    """
    return create_async_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout,
        pool_recycle=settings.db_pool_recycle,
        # Parameters hold password hashes: keep them out of logs and exception messages.
        hide_parameters=True,
        connect_args={
            "timeout": settings.db_connect_timeout,
            "server_settings": _server_settings(settings),
        },
    )


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    # Repositories return plain records, never ORM instances that could lazy-load after the
    # transaction ended, so nothing needs refreshing after commit.
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


async def _keep_session(connection: "asyncpg.Connection[asyncpg.Record]") -> None:
    """Nothing to reset: read connections only ever run single SELECTs."""


def create_read_pool(settings: Settings, engine: AsyncEngine) -> "asyncpg.Pool[asyncpg.Record]":
    """A driver-level pool for the hot single-statement reads (bench/README.md).

    No connection is opened up front (min_size=0), so the service starts while PostgreSQL
    is down; releasing skips asyncpg's reset query, a round trip each read would otherwise pay.
    """
    # The engine's own translation of the URL, so both pools connect exactly alike (ssl, ...).
    _, connect_arguments = engine.dialect.create_connect_args(engine.url)
    return asyncpg.create_pool(
        **connect_arguments,
        min_size=0,
        max_size=settings.db_read_pool_size,
        timeout=settings.db_connect_timeout,
        server_settings=_server_settings(settings),
        reset=_keep_session,
    )


@asynccontextmanager
async def read_connection(
    read_pool: "asyncpg.Pool[asyncpg.Record]", wait_seconds: float
) -> AsyncIterator[ReadConnection]:
    """A pooled connection for one read, outside any transaction (autocommit)."""
    try:
        # asyncio.timeout rather than acquire(timeout=...), which wraps every acquire in a
        # task of its own (asyncpg's wait_for); that showed in the GET profile.
        async with asyncio.timeout(wait_seconds):
            connection = await read_pool.acquire()
    except TimeoutError:
        raise PoolTimeout("no read connection became free in time") from None
    try:
        yield connection
    finally:
        await read_pool.release(connection)


@asynccontextmanager
async def unit_of_work(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """One transaction: committed when the block ends normally, rolled back on any exception."""
    async with sessionmaker() as session, session.begin():
        yield session
