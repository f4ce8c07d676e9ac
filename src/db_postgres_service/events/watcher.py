"""Long polls wait here, holding no database connection: one task per worker asks, every
EVENT_POLL_INTERVAL_MS while anyone waits, for the newest event a reader may be served, and
wakes every waiter when it moves. One query per interval, whatever the number of waiters;
none while nobody waits. It sees the writes of every instance alike, which a notification
sent by the writing instance would not do for an event held back by an older transaction."""

import asyncio
import contextlib
import logging

from db_postgres_service.core.database import StatementPool
from db_postgres_service.events.position import Position
from db_postgres_service.events.repository import FeedRepository

logger = logging.getLogger(__name__)


class FeedWatcher:
    def __init__(self, pool: StatementPool, interval: float) -> None:
        self._pool = pool
        self._interval = interval
        self._waiters = 0
        self.newest: Position | None = None
        self._moved = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def wait_past(self, seen: Position, seconds: float) -> bool:
        """Wait until an event after `seen` may be served, at most `seconds`: whether one may."""
        self._waiters += 1
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._watch())
        try:
            async with asyncio.timeout(seconds):
                while self.newest is None or self.newest <= seen:
                    await self._moved.wait()
            return True
        except TimeoutError:
            return False
        finally:
            self._waiters -= 1

    async def _watch(self) -> None:
        try:
            while self._waiters:
                await self._look()
                await asyncio.sleep(self._interval)
        finally:
            self._task = None

    async def _look(self) -> None:
        try:
            async with self._pool.connection() as connection:
                newest = await FeedRepository(connection).newest_visible()
        except Exception:
            # The waiters' own reads will report it; the watch goes on until they give up.
            logger.warning("the change feed's watch could not read the newest event")
            return
        if newest != self.newest:
            self.newest = newest
            moved, self._moved = self._moved, asyncio.Event()
            moved.set()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
