"""The database pool every request uses, its transactions, and statements compiled for it.

One pool per worker (`DB_POOL_SIZE`), one connection style: asyncpg. A read or a write that is
one statement runs on a connection outside any transaction (a statement on its own is its own
transaction: one round trip); a request whose work is several statements runs them in one
transaction on the same pool (`StatementPool.transaction`). The statements themselves are
written once, in SQLAlchemy Core or as text, and compiled for asyncpg (`driver_statement`).
"""

import asyncio
import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

import asyncpg
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg
from sqlalchemy.engine import make_url
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement

from db_postgres_service.core.config import Settings

APPLICATION_NAME = "db-postgres-service"
# asyncpg's own default, kept in session mode.
ASYNCPG_STATEMENT_CACHE_SIZE = 100
_ASYNCPG_DIALECT = PGDialect_asyncpg()  # type: ignore[no-untyped-call]  # untyped upstream
StatementConnection: TypeAlias = "asyncpg.pool.PoolConnectionProxy[asyncpg.Record]"
# A pooled connection, or the command line's own.
DriverConnection: TypeAlias = "asyncpg.Connection[asyncpg.Record] | StatementConnection"


def _server_settings(settings: Settings) -> dict[str, str]:
    # Pages read timestamps as text (users/sql.py, _utc_text), which must not
    # follow a DateStyle an operator set on the database or role.
    server_settings = {"application_name": APPLICATION_NAME, "DateStyle": "ISO, YMD"}
    if settings.db_statement_timeout_ms and settings.database_pool_mode == "session":
        server_settings["statement_timeout"] = str(settings.db_statement_timeout_ms)
    return server_settings


def _statement_cache_size(settings: Settings) -> int:
    # asyncpg's cache names its prepared statements, and a named statement lives on one server
    # connection, which PgBouncer in transaction mode hands to someone else after each
    # transaction; unnamed ones are parsed anew in every round trip.
    return ASYNCPG_STATEMENT_CACHE_SIZE if settings.database_pool_mode == "session" else 0


def connect_arguments(database_url: str) -> dict[str, Any]:
    """asyncpg's connect() arguments for a SQLAlchemy URL, translated as SQLAlchemy's own
    dialect does it, so that every connection of the service connects alike (ssl, ...)."""
    url = make_url(database_url)
    _, arguments = _ASYNCPG_DIALECT.create_connect_args(url)  # type: ignore[no-untyped-call]
    return dict(arguments)


async def connect(
    settings: Settings, application_name: str = APPLICATION_NAME
) -> "asyncpg.Connection[asyncpg.Record]":
    """One connection outside any pool, for the command line and the relay (which names its
    own, so that pg_stat_activity tells its sessions apart)."""
    return await asyncpg.connect(
        **connect_arguments(settings.database_url),
        timeout=settings.db_connect_timeout,
        server_settings={**_server_settings(settings), "application_name": application_name},
        statement_cache_size=_statement_cache_size(settings),
    )


# How long closing a connection of `connect` waits for the server before dropping the socket.
CLOSE_TIMEOUT_SECONDS = 2.0


async def close_connection(connection: "asyncpg.Connection[asyncpg.Record]") -> None:
    """Close a connection of `connect` gracefully if the server answers soon, else drop its
    socket: the session ends either way (and with it any session lock it held)."""
    try:
        await connection.close(timeout=CLOSE_TIMEOUT_SECONDS)
    except BaseException as error:
        connection.terminate()
        if not isinstance(error, Exception):
            raise


async def _keep_session(connection: "asyncpg.Connection[asyncpg.Record]") -> None:
    """Nothing to reset: a connection comes back after a statement in autocommit or a finished
    transaction, and the service never changes session state (SET, LISTEN, session locks)."""


async def open_driver_pool(settings: Settings, size: int) -> "asyncpg.Pool[asyncpg.Record]":
    """An asyncpg pool of up to `size` connections.

    No connection is opened up front (min_size=0), so the service starts while PostgreSQL is
    down; asyncpg's reset query on release is skipped (`_keep_session`).
    """
    return await asyncpg.create_pool(
        **connect_arguments(settings.database_url),
        min_size=0,
        max_size=size,
        timeout=settings.db_connect_timeout,
        server_settings=_server_settings(settings),
        reset=_keep_session,
        statement_cache_size=_statement_cache_size(settings),
    )


# The largest id a bigint column holds: a larger one names no row, and asyncpg refuses to send it.
BIGINT_MAX = 2**63 - 1


def storable(value: str) -> bool:
    """Whether PostgreSQL can hold `value` as text at all: a NUL never matches any row."""
    return "\x00" not in value


class PoolTimeout(Exception):
    """No connection of the pool became free within DB_POOL_TIMEOUT."""


# The failures after which a connection's protocol state is unknown: it is ended, not reused.
_BROKEN_CONNECTION = (asyncpg.InterfaceError, asyncpg.InternalClientError, OSError)


class StatementPool:
    """The worker's connections, over asyncpg's pool: for statements that are their own
    transaction, and for transactions of several statements.

    A statement on its own needs no transaction: one prepared statement, one round trip
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
    async def open(cls, settings: Settings) -> "StatementPool":
        pool = await open_driver_pool(settings, settings.db_pool_size)
        return cls(pool, settings.db_pool_timeout)

    def connection(self) -> "_Lease":
        """A connection for one statement, outside any transaction (autocommit)."""
        return _Lease(self)

    def transaction(self) -> "_Transaction":
        """A connection inside a transaction: committed when the block ends normally, rolled
        back on any exception."""
        return _Transaction(self)

    def usage(self) -> tuple[int, int]:
        """How many connections are in use and how many are open but idle."""
        idle = self._pool.get_idle_size() + len(self._free)
        return self._pool.get_size() - idle, idle

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


class _Transaction:
    """`async with pool.transaction() as connection:`: one transaction on one connection."""

    __slots__ = ("_lease", "_transaction")

    def __init__(self, pool: StatementPool) -> None:
        self._lease = _Lease(pool)

    async def __aenter__(self) -> StatementConnection:
        connection = await self._lease.__aenter__()
        self._transaction = connection.transaction()
        try:
            await self._transaction.start()
        except BaseException as error:
            await self._lease.__aexit__(type(error), error, None)
            raise
        return connection

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: object
    ) -> None:
        try:
            if error is None:
                await self._transaction.commit()
            else:
                await self._transaction.rollback()
        except BaseException as failure:
            await self._lease.__aexit__(type(failure), failure, trace)
            raise
        await self._lease.__aexit__(kind, error, trace)


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
