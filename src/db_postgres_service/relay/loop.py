"""The relay's loop: wait for the exchange's lock, publish batches of events from the recorded
position, record each batch's last position once the broker confirmed the whole batch, and on
any failure drop every connection and start over from the recorded position.

Starting over from what was recorded, rather than from what was sent, is what makes a lost
confirm harmless: everything after the last recorded position is published again, in feed
order, so a consumer that skips the message ids it has seen gets every event, each subject's
in order (at least once; CONTRACT.md, "The change feed")."""

import asyncio
import contextlib
import logging
import random
import time
from collections import Counter as Tally

import asyncpg

from db_postgres_service.core.config import Settings
from db_postgres_service.core.database import close_connection, connect
from db_postgres_service.events.cloudevents import position_of
from db_postgres_service.events.position import START, Position
from db_postgres_service.events.repository import FeedRepository
from db_postgres_service.relay import positions
from db_postgres_service.relay.lock import RelayLock
from db_postgres_service.relay.metrics import (
    LAG_EVENTS,
    LAG_SECONDS,
    PUBLISH_ERRORS,
    PUBLISHED,
    PUBLISHING,
    RECONNECTS,
)
from db_postgres_service.relay.publisher import Publisher, PublishFailed
from db_postgres_service.relay.sql import APPLICATION_NAME

logger = logging.getLogger(__name__)
# Counting what is left behind reads every unpublished event: while far behind, once a second.
LAG_INTERVAL_SECONDS = 1.0


class Backoff:
    """Delays between attempts: doubling from FIRST up to LONGEST, each drawn between half and
    all of it, so that relays that failed together do not retry together."""

    FIRST = 0.2
    LONGEST = 5.0

    def __init__(self) -> None:
        self._delay = self.FIRST

    def next(self) -> float:
        delay = self._delay
        self._delay = min(self._delay * 2, self.LONGEST)
        return random.uniform(delay / 2, delay)  # noqa: S311  # jitter, not a secret

    def reset(self) -> None:
        self._delay = self.FIRST


class Relay:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._exchange = settings.relay_exchange
        self._poll_seconds = settings.event_poll_interval_ms / 1000
        self._lag_measured_at = float("-inf")
        self._lag: tuple[int, float] = (0, 0.0)

    async def run(self) -> None:
        """Publish until cancelled (SIGTERM), starting over after every failure."""
        backoff = Backoff()
        while True:
            try:
                await self._hold_and_publish(backoff)
            except Exception as error:
                RECONNECTS.inc()
                delay = backoff.next()
                logger.warning(
                    "relay to %s stopped (%s: %s); starting over from the recorded position "
                    "in %.1f s",
                    self._exchange,
                    type(error).__name__,
                    error,
                    delay,
                    extra={"event": "relay_reconnect", "exchange": self._exchange},
                )
                await asyncio.sleep(delay)

    async def _hold_and_publish(self, backoff: Backoff) -> None:
        async with contextlib.AsyncExitStack() as stack:
            lock = await RelayLock.acquire(self._settings, self._exchange)
            stack.push_async_callback(lock.release)
            feed_connection = await connect(self._settings, APPLICATION_NAME)
            stack.push_async_callback(close_connection, feed_connection)
            publisher = await Publisher.open(self._settings.amqp_url, self._exchange)
            stack.push_async_callback(publisher.close)
            PUBLISHING.set(1)
            stack.callback(PUBLISHING.set, 0)
            await self._publish(lock, feed_connection, publisher, backoff)

    async def _publish(
        self,
        lock: RelayLock,
        feed_connection: "asyncpg.Connection[asyncpg.Record]",
        publisher: Publisher,
        backoff: Backoff,
    ) -> None:
        feed = FeedRepository(feed_connection)
        published = await self._starting_point(feed_connection, feed)
        while True:
            lock.check()
            rows = await feed.after(published, self._settings.relay_batch, None)
            if not rows:
                self._set_lag(0, 0.0)
                await asyncio.sleep(self._poll_seconds)
                continue
            try:
                await publisher.publish(rows)
            except PublishFailed:
                PUBLISH_ERRORS.inc()
                raise
            published = position_of(rows[-1])
            await lock.record(published)
            # Progress, not a mere connection, resets the delays: a broker that accepts the
            # connection but refuses every batch is not retried five times a second.
            backoff.reset()
            for kind, count in Tally(row["type"] for row in rows).items():
                PUBLISHED.labels(kind).inc(count)
            whole = len(rows) == self._settings.relay_batch
            await self._measure_lag(feed_connection, published, whole=whole)
            logger.info(
                "published %d events to %s",
                len(rows),
                self._exchange,
                extra={
                    "event": "relay_batch",
                    "exchange": self._exchange,
                    "count": len(rows),
                    "cursor": published.cursor,
                    "lag_events": self._lag[0],
                    "lag_seconds": round(self._lag[1], 3),
                },
            )

    async def _starting_point(
        self, connection: "asyncpg.Connection[asyncpg.Record]", feed: FeedRepository
    ) -> Position:
        """The recorded position; the oldest kept event for an exchange never published to."""
        position = await positions.recorded(connection, self._exchange)
        swept = await feed.swept()
        if position is not None and position < swept:
            logger.error(
                "events after %s were deleted (EVENT_RETENTION_DAYS) before the relay published "
                "them to %s; going on from the oldest kept event",
                position.cursor,
                self._exchange,
                extra={"event": "relay_events_lost", "exchange": self._exchange},
            )
        start = START if position is None else position
        logger.info(
            "publishing to %s after %s",
            self._exchange,
            start.cursor,
            extra={"event": "relay_start", "exchange": self._exchange, "cursor": start.cursor},
        )
        return start

    async def _measure_lag(
        self, connection: "asyncpg.Connection[asyncpg.Record]", published: Position, *, whole: bool
    ) -> None:
        """A batch that was not full read the last visible event: nothing is left behind. After
        a full one, count what is (at most once a second: counting reads it all)."""
        if not whole:
            self._set_lag(0, 0.0)
            return
        now = time.monotonic()
        if now - self._lag_measured_at < LAG_INTERVAL_SECONDS:
            return
        self._lag_measured_at = now
        self._set_lag(*await positions.lag(connection, published))

    def _set_lag(self, events: int, seconds: float) -> None:
        self._lag = (events, seconds)
        LAG_EVENTS.set(events)
        LAG_SECONDS.set(seconds)
