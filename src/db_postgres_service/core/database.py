"""Engine and per-request unit of work."""

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TypeAlias

import asyncpg
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement

from db_postgres_service.core.config import Settings

APPLICATION_NAME = "db-postgres-service"
_ASYNCPG_DIALECT = PGDialect_asyncpg()  # type: ignore[no-untyped-call]  # untyped upstream
StatementConnection: TypeAlias = "asyncpg.pool.PoolConnectionProxy[asyncpg.Record]"


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
    """Nothing to reset: these connections only ever run single statements in autocommit."""


def create_statement_pool(
    settings: Settings, engine: AsyncEngine
) -> "asyncpg.Pool[asyncpg.Record]":
    """A driver-level pool for the hot paths' single statements (bench/README.md).

    A statement of its own is its own transaction in PostgreSQL, so these need no session:
    one prepared statement, one round trip. No connection is opened up front (min_size=0),
    so the service starts while PostgreSQL is down; releasing skips asyncpg's reset query, a
    round trip each statement would otherwise pay.
    """
    # The engine's own translation of the URL, so both pools connect exactly alike (ssl, ...).
    _, connect_arguments = engine.dialect.create_connect_args(engine.url)
    return asyncpg.create_pool(
        **connect_arguments,
        min_size=0,
        max_size=settings.db_statement_pool_size,
        timeout=settings.db_connect_timeout,
        server_settings=_server_settings(settings),
        reset=_keep_session,
    )


@asynccontextmanager
async def statement_connection(
    statement_pool: "asyncpg.Pool[asyncpg.Record]", wait_seconds: float
) -> AsyncIterator[StatementConnection]:
    """A pooled connection for one statement, outside any transaction (autocommit)."""
    try:
        if statement_pool.get_idle_size():
            # A connection is free, so acquiring cannot wait: no timer to arm and cancel.
            connection = await statement_pool.acquire()
        else:
            # asyncio.timeout rather than acquire(timeout=...), which wraps every acquire in
            # a task of its own (asyncpg's wait_for); both showed in the GET profile.
            async with asyncio.timeout(wait_seconds):
                connection = await statement_pool.acquire()
    except TimeoutError:
        raise PoolTimeout("no statement connection became free in time") from None
    try:
        yield connection
    except (asyncpg.InterfaceError, asyncpg.InternalClientError, OSError):
        # The connection's state is unknown: end it rather than hand it out again.
        connection.terminate()
        raise
    finally:
        await statement_pool.release(connection)


@dataclass(frozen=True, slots=True)
class DriverStatement:
    """A SQLAlchemy Core statement compiled once for asyncpg: its SQL, its parameters' names
    in positional order, and the values of those the statement fixes itself (the 1 of
    `version + 1`). The statement stays defined in one place for both paths."""

    sql: str
    parameters: tuple[str, ...]
    fixed: Mapping[str, object]

    def arguments(self, values: Mapping[str, object]) -> list[object]:
        fixed = self.fixed
        return [values[name] if name in values else fixed[name] for name in self.parameters]


def driver_statement(statement: ClauseElement) -> DriverStatement:
    compiled = statement.compile(dialect=_ASYNCPG_DIALECT)
    assert isinstance(compiled, SQLCompiler), "a statement compiles with the SQL compiler"
    fixed = {name: bind.value for name, bind in compiled.binds.items() if not bind.required}
    return DriverStatement(compiled.string, tuple(compiled.positiontup or ()), fixed)


@asynccontextmanager
async def unit_of_work(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """One transaction: committed when the block ends normally, rolled back on any exception."""
    async with sessionmaker() as session, session.begin():
        yield session
