"""One relay at a time per database and exchange: a session advisory lock on a connection of
its own. A second relay waits for it and takes over when the first one's session ends, which
PostgreSQL notices as soon as that process dies (its socket closes).

The relay records its position through this same connection: a relay whose lock connection
died cannot record anything, and finds out there (CONTRACT.md, "The change feed")."""

import logging
from typing import Self

import asyncpg

from db_postgres_service.core.config import Settings
from db_postgres_service.core.database import close_connection, connect
from db_postgres_service.events.position import Position
from db_postgres_service.relay import positions
from db_postgres_service.relay.sql import APPLICATION_NAME, LOCK

logger = logging.getLogger(__name__)


class LockLost(Exception):
    """The lock's connection ended: another relay may publish now."""


class RelayLock:
    def __init__(self, connection: "asyncpg.Connection[asyncpg.Record]", exchange: str) -> None:
        self._connection = connection
        self._exchange = exchange

    @classmethod
    async def acquire(cls, settings: Settings, exchange: str) -> Self:
        """Wait, as long as it takes, until no other relay holds the exchange's lock."""
        connection = await connect(settings, APPLICATION_NAME)
        try:
            # Waiting for the lock is the point: no statement_timeout may end that wait.
            await connection.execute("SET statement_timeout = 0")
            logger.info(
                "waiting for the relay lock of %s",
                exchange,
                extra={"event": "relay_lock_wait", "exchange": exchange},
            )
            await connection.execute(LOCK, exchange)
        except BaseException:
            await close_connection(connection)
            raise
        logger.info(
            "relay lock of %s acquired",
            exchange,
            extra={"event": "relay_lock_acquired", "exchange": exchange},
        )
        return cls(connection, exchange)

    def check(self) -> None:
        """Fail when the lock's connection is known to be gone (free: no round trip)."""
        if self._connection.is_closed():
            raise LockLost(f"the connection holding the relay lock of {self._exchange} ended")

    async def record(self, position: Position) -> None:
        """Record `position` in the session that holds the lock: fails if it no longer does."""
        self.check()
        try:
            await positions.record(self._connection, self._exchange, position)
        except (asyncpg.InterfaceError, asyncpg.PostgresConnectionError, OSError) as error:
            raise LockLost(f"the relay lock of {self._exchange} may be lost: {error}") from error

    async def release(self) -> None:
        """End the session, which releases the lock."""
        await close_connection(self._connection)
