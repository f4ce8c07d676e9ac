"""Old events are swept by the workers themselves, in small batches, so that deleting a week
of events never holds locks or a connection for long, and no cron job is needed."""

import asyncio
import contextlib
import logging

from db_postgres_service.core.config import Settings
from db_postgres_service.core.database import StatementPool
from db_postgres_service.events.repository import FeedRepository

logger = logging.getLogger(__name__)
SWEEP_BATCH = 1000


async def sweep(pool: StatementPool, retention_days: float) -> int:
    """Delete every event past the retention, a batch per statement; how many were deleted."""
    total = 0
    while True:
        async with pool.connection() as connection:
            deleted = await FeedRepository(connection).sweep(retention_days, SWEEP_BATCH)
        total += deleted
        if deleted < SWEEP_BATCH:
            return total


class RetentionSweeper:
    """Sweeps every `event_sweep_interval_seconds` while the worker runs."""

    def __init__(self, pool: StatementPool, settings: Settings) -> None:
        self._pool = pool
        self._settings = settings
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._settings.event_sweep_interval_seconds)
            try:
                deleted = await sweep(self._pool, self._settings.event_retention_days)
            except Exception:
                logger.warning("sweeping old events failed; the next sweep tries again")
                continue
            if deleted:
                logger.info("old events swept", extra={"event": "events_swept", "count": deleted})

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
