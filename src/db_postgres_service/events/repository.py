"""Reads and the retention sweep of the feed, over a connection of the statement pool."""

from collections.abc import Sequence

import asyncpg

from db_postgres_service.core.database import DriverConnection
from db_postgres_service.core.errors import Gone
from db_postgres_service.events.position import Position
from db_postgres_service.events.sql import EVENTS_AFTER, NEWEST_VISIBLE, SWEEP, SWEPT


class FeedRepository:
    def __init__(self, connection: DriverConnection) -> None:
        self.connection = connection

    async def swept(self) -> Position:
        row = await self.connection.fetchrow(SWEPT)
        assert row is not None, "the migration writes the horizon's one row"
        return Position(row["xid"], row["position"])

    async def start(self, after: Position | None) -> Position:
        """Where a read goes on from: `after`, or the oldest kept event; 410 when events after
        `after` were swept away."""
        swept = await self.swept()
        if after is None:
            return swept
        if after < swept:
            raise Gone(
                "Events after this cursor are past the feed's retention and were deleted; "
                "start again without `after` (from the oldest kept event)."
            )
        return after

    async def after(
        self, position: Position, limit: int, types: Sequence[str] | None
    ) -> list[asyncpg.Record]:
        """Up to `limit` events after `position` that no transaction can still precede."""
        return await self.connection.fetch(
            EVENTS_AFTER, position.xid, position.position, limit, types
        )

    async def newest_visible(self) -> Position | None:
        row = await self.connection.fetchrow(NEWEST_VISIBLE)
        return None if row is None else Position(row["xid"], row["position"])

    async def sweep(self, retention_days: float, batch: int) -> int:
        """Delete up to `batch` events older than the retention; how many were deleted."""
        deleted: int = await self.connection.fetchval(SWEEP, retention_days, batch)
        return deleted
