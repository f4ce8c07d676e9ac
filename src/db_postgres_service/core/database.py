"""Engine and per-request unit of work."""

import asyncio
import contextlib
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
    # Pages read timestamps as text (users/sql.py, _utc_text), which must not
    # follow a DateStyle an operator set on the database or role.
    server_settings = {"application_name": APPLICATION_NAME, "DateStyle": "ISO, YMD"}
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


async def open_driver_pool(
    settings: Settings, engine: AsyncEngine, size: int
) -> "asyncpg.Pool[asyncpg.Record]":
    """An asyncpg pool for statements that are their own transaction (autocommit).

    No connection is opened up front (min_size=0), so the service starts while PostgreSQL is
    down; asyncpg's reset query on release is skipped, as there is nothing to reset after a
    single statement in autocommit.
    """
    # The engine's own translation of the URL, so that every pool connects alike (ssl, ...).
    _, connect_arguments = engine.dialect.create_connect_args(engine.url)
    return await asyncpg.create_pool(
        **connect_arguments,
        min_size=0,
        max_size=size,
        timeout=settings.db_connect_timeout,
        server_settings=_server_settings(settings),
        reset=_keep_session,
    )


# The failures after which a connection's protocol state is unknown: it is ended, not reused.
_BROKEN_CONNECTION = (asyncpg.InterfaceError, asyncpg.InternalClientError, OSError)


class StatementPool:
    """Connections for statements that are their own transaction, over asyncpg's pool.

    A statement on its own needs no session: one prepared statement, one round trip
    (bench/README.md). A connection once taken from asyncpg's pool stays checked out and
    goes from one statement to the next, most recently used first, because asyncpg's own
    acquire and release (a shielded task, a queue round, bookkeeping) cost a fifth of a hot
    read. Only when every connection is busy does a statement wait in asyncpg's pool, and a
    connection finishing meanwhile goes back there to wake it.
    """

    def __init__(self, pool: "asyncpg.Pool[asyncpg.Record]", wait_seconds: float) -> None:
        self._pool = pool
        self._wait_seconds = wait_seconds
        self._free: list[StatementConnection] = []
        self._waiting = 0

    @classmethod
    async def open(cls, settings: Settings, engine: AsyncEngine) -> "StatementPool":
        pool = await open_driver_pool(settings, engine, settings.db_statement_pool_size)
        return cls(pool, settings.db_pool_timeout)

    def connection(self) -> "_Lease":
        """A connection for one statement, outside any transaction (autocommit)."""
        return _Lease(self)

    async def acquire(self) -> StatementConnection:
        free = self._free
        while free:
            connection = free.pop()
            try:
                if not connection.is_closed():
                    return connection
            except asyncpg.InterfaceError:
                # The server ended it while it was free, and asyncpg took it back itself.
                continue
            await self._pool.release(connection)
        self._waiting += 1
        try:
            if self._pool.get_idle_size():
                # A connection is free, so acquiring cannot wait: no timer to arm and cancel.
                return await self._pool.acquire()
            # asyncio.timeout rather than acquire(timeout=...), which wraps every acquire in
            # a task of its own (asyncpg's wait_for).
            async with asyncio.timeout(self._wait_seconds):
                return await self._pool.acquire()
        except TimeoutError:
            raise PoolTimeout("no statement connection became free in time") from None
        finally:
            self._waiting -= 1

    async def release(self, connection: StatementConnection, *, broken: bool = False) -> None:
        if broken:
            with contextlib.suppress(asyncpg.InterfaceError):  # Already taken back: ended.
                connection.terminate()
        if broken or self._waiting:
            await self._pool.release(connection)
        else:
            self._free.append(connection)

    async def close(self) -> None:
        free, self._free = self._free, []
        for connection in free:
            await self._pool.release(connection)
        await self._pool.close()


class _Lease:
    """`async with pool.connection() as connection:`, without a generator per statement."""

    __slots__ = ("_connection", "_pool")

    def __init__(self, pool: StatementPool) -> None:
        self._pool = pool

    async def __aenter__(self) -> StatementConnection:
        self._connection = await self._pool.acquire()
        return self._connection

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, _: object
    ) -> None:
        await self._pool.release(self._connection, broken=isinstance(error, _BROKEN_CONNECTION))


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
