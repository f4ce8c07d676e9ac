"""Migration steps that give way to traffic: each waits for a lock no longer than a short
`lock_timeout`, and a step that timed out is rolled back and run again after a pause.

A DDL statement waiting for its lock (an `ALTER TABLE` behind a long read) makes every later
read and write of that table queue behind it; bounding the wait bounds that queue. The pauses
between attempts double, so a blocker that holds on for a while is waited out, and a bounded
number of attempts turns one that never lets go into a clear error instead of an endless loop.
"""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.exc import DBAPIError

from db_postgres_service.core.config import Settings

# SQLSTATE lock_not_available: what PostgreSQL raises when a lock wait reaches lock_timeout.
LOCK_NOT_AVAILABLE = "55P03"
# The first pause between attempts; each next one is twice as long, up to the longest.
FIRST_PAUSE_SECONDS = 1.0
LONGEST_PAUSE_SECONDS = 60.0

logger = logging.getLogger("db_postgres_service.migrations")


class MigrationGaveUp(RuntimeError):
    """A migration step that could not get its locks in any of its attempts."""


@dataclass(frozen=True)
class LockPatience:
    """How long a migration step may wait for a lock, and how often it is tried again."""

    lock_timeout_ms: int
    retries: int
    first_pause_seconds: float = FIRST_PAUSE_SECONDS

    @classmethod
    def from_settings(cls, settings: Settings) -> "LockPatience":
        return cls(settings.migration_lock_timeout_ms, settings.migration_retries)

    def pauses(self) -> list[float]:
        """The pause before each retry, in seconds."""
        return [
            min(self.first_pause_seconds * 2**retry, LONGEST_PAUSE_SECONDS)
            for retry in range(self.retries)
        ]

    def session_settings(self) -> list[str]:
        """What the migration's connection is set to before its first step: the lock wait
        bounded, and no statement_timeout (a database or role default included), so that a
        long index build is never cancelled halfway. Session-wide, so that they hold in every
        step's transaction and in autocommit blocks alike."""
        return [f"SET lock_timeout = '{self.lock_timeout_ms}ms'", "SET statement_timeout = 0"]


def is_lock_timeout(error: DBAPIError) -> bool:
    return getattr(error.orig, "sqlstate", None) == LOCK_NOT_AVAILABLE


def run_giving_way(
    run_steps: Callable[[], None],
    patience: LockPatience,
    *,
    rollback: Callable[[], None],
    revision: Callable[[], str | None],
) -> None:
    """Run the pending steps; when one times out waiting for a lock, roll it back and run the
    steps again from that one after a pause, at most `patience.retries` times, then raise
    MigrationGaveUp.

    `run_steps` must start again from the first step not yet recorded (Alembic's does: each
    step commits with its revision); `rollback` ends what a failed attempt left open;
    `revision` tells the revision recorded so far, for the log.
    """
    pauses = patience.pauses()
    for retry in range(len(pauses) + 1):
        try:
            run_steps()
            return
        except DBAPIError as error:
            if not is_lock_timeout(error):
                raise
            rollback()
            at, statement = revision() or "base", error.statement or "?"
            if retry == len(pauses):
                raise MigrationGaveUp(
                    f"Gave up migrating after revision {at}: in each of {retry + 1} attempts, a "
                    f"statement waited longer than lock_timeout ({patience.lock_timeout_ms} ms) "
                    "for a lock; the schema stays at that revision. Find what holds the lock "
                    f"(pg_locks, pg_stat_activity), then migrate again. The statement: {statement}"
                ) from error
            logger.warning(
                "migration step after revision %s waited longer than lock_timeout (%s ms) for "
                "a lock: rolled back, retry %s of %s in %.1f s: %s",
                at,
                patience.lock_timeout_ms,
                retry + 1,
                len(pauses),
                pauses[retry],
                statement,
            )
            time.sleep(pauses[retry])
