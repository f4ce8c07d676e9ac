"""A migration step that cannot get its lock gives way to traffic (core/migration_retries.py):
it waits no longer than lock_timeout, so the reads queued behind it wait no longer either; it
is rolled back and retried after a pause; after its bounded retries it gives up with a clear
error and leaves the schema as it was."""

import asyncio
import logging
import time
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.exc import DBAPIError

from alembic import command
from db_postgres_service.core.config import Settings
from db_postgres_service.core.migration_retries import LockPatience, MigrationGaveUp
from db_postgres_service.core.migrations import alembic_config

from .conftest import ThrowAwayDatabases
from .helpers import asyncpg_dsn
from .migration_scripts import (
    EXPAND_USERS,
    HEAD,
    NEXT,
    add_users,
    config_for,
    users_schema,
    with_next_migration,
)
from .serving import run_cli

RETRIES_LOGGER = "db_postgres_service.migrations"
LOCK_TIMEOUT_MS = 500
# The blocker holds on for several lock timeouts and pauses.
HOLD_SECONDS = 4.0


async def holding_users(url: str) -> asyncpg.Connection:
    """A connection in a transaction that has read users: it holds ACCESS SHARE on users,
    which the ACCESS EXCLUSIVE lock of ALTER TABLE waits for, until the transaction ends."""
    blocker = await asyncpg.connect(asyncpg_dsn(url))
    await blocker.execute("BEGIN")
    await blocker.fetchval("SELECT count(*) FROM users")
    return blocker


async def read_users(url: str, done: asyncio.Event) -> list[float]:
    """How long each read of a user took, reading every 20 ms until `done`."""
    reader = await asyncpg.connect(asyncpg_dsn(url))
    seconds = []
    try:
        while not done.is_set():
            started = time.monotonic()
            await reader.fetchval("SELECT username FROM users WHERE id = 1")
            seconds.append(time.monotonic() - started)
            await asyncio.sleep(0.02)
    finally:
        await reader.close()
    return seconds


async def release_after(blocker: asyncpg.Connection, seconds: float) -> None:
    await asyncio.sleep(seconds)
    await blocker.execute("ROLLBACK")


def retries_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.name == RETRIES_LOGGER]


def test_by_default_a_step_waits_2_s_for_a_lock_and_is_retried_5_times_after_1_to_16_s() -> None:
    patience = LockPatience.from_settings(Settings())

    assert patience.session_settings() == [
        "SET lock_timeout = '2000ms'",
        "SET statement_timeout = 0",
    ]
    assert patience.pauses() == [1, 2, 4, 8, 16]


def test_the_pauses_between_retries_double_up_to_a_minute() -> None:
    assert LockPatience(2000, retries=8).pauses() == [1, 2, 4, 8, 16, 32, 60, 60]


async def test_a_step_behind_a_lock_lets_reads_pass_and_retries_until_the_lock_is_free(
    databases: ThrowAwayDatabases, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = await databases.acreate()
    await add_users(url, 1)
    patience = LockPatience(LOCK_TIMEOUT_MS, retries=10, first_pause_seconds=0.2)
    upgrade = config_for(with_next_migration(tmp_path, EXPAND_USERS), url, patience)
    blocker = await holding_users(url)
    reads_done = asyncio.Event()

    reads = asyncio.create_task(read_users(url, reads_done))
    release = asyncio.create_task(release_after(blocker, HOLD_SECONDS))
    with caplog.at_level(logging.WARNING, logger=RETRIES_LOGGER):
        await asyncio.to_thread(command.upgrade, upgrade, "head")
    reads_done.set()
    seconds = await reads
    await release
    await blocker.close()

    # Queued behind the waiting ALTER TABLE for its lock_timeout at most (and some noise),
    # never for the blocker's seconds.
    print(f"\nlongest of {len(seconds)} reads {max(seconds) * 1000:.0f} ms")
    assert max(seconds) < LOCK_TIMEOUT_MS / 1000 + 0.5
    retries = retries_logged(caplog)
    assert retries
    assert (
        "waited longer than lock_timeout (500 ms) for a lock: rolled back, retry 1 of 10"
        in (retries[0])
    )
    schema = await users_schema(url)
    assert schema.revision == NEXT
    assert "locale" in schema.columns
    assert "ix_users_locale" in schema.indexes


async def test_a_step_that_never_gets_its_lock_gives_up_and_leaves_the_schema_as_it_was(
    databases: ThrowAwayDatabases, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = await databases.acreate()
    patience = LockPatience(lock_timeout_ms=200, retries=2, first_pause_seconds=0.1)
    upgrade = config_for(with_next_migration(tmp_path, EXPAND_USERS), url, patience)
    blocker = await holding_users(url)

    try:
        with (
            caplog.at_level(logging.WARNING, logger=RETRIES_LOGGER),
            pytest.raises(MigrationGaveUp) as gave_up,
        ):
            await asyncio.to_thread(command.upgrade, upgrade, "head")
    finally:
        await blocker.close()

    assert str(gave_up.value) == (
        f"Gave up migrating after revision {HEAD}: in each of 3 attempts, a statement waited "
        "longer than lock_timeout (200 ms) for a lock; the schema stays at that revision. Find "
        "what holds the lock (pg_locks, pg_stat_activity), then migrate again. The statement: "
        "ALTER TABLE users ADD COLUMN IF NOT EXISTS locale TEXT DEFAULT 'en' NOT NULL"
    )
    assert isinstance(gave_up.value.__cause__, DBAPIError)
    assert len(retries_logged(caplog)) == 2
    schema = await users_schema(url)
    assert schema.revision == HEAD
    assert "locale" not in schema.columns
    assert "ix_users_locale" not in schema.indexes


async def test_a_step_failing_for_another_reason_is_not_retried(
    databases: ThrowAwayDatabases, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = await databases.acreate()
    patience = LockPatience(LOCK_TIMEOUT_MS, retries=5, first_pause_seconds=0.1)
    failing = 'def upgrade() -> None:\n    op.execute("SELECT 1 / 0")'
    upgrade = config_for(with_next_migration(tmp_path, failing), url, patience)

    with (
        caplog.at_level(logging.WARNING, logger=RETRIES_LOGGER),
        pytest.raises(DBAPIError, match="division by zero"),
    ):
        await asyncio.to_thread(command.upgrade, upgrade, "head")

    assert retries_logged(caplog) == []
    assert (await users_schema(url)).revision == HEAD


async def test_migrate_that_gives_up_says_so_in_one_line_and_exits_1(
    databases: ThrowAwayDatabases, tmp_path: Path
) -> None:
    url = await databases.acreate()
    await asyncio.to_thread(command.downgrade, alembic_config(url), "-1")
    before = (await users_schema(url)).revision
    # Reads of alembic_version pass; the UPDATE that records the step waits.
    blocker = await asyncpg.connect(asyncpg_dsn(url))
    await blocker.execute("BEGIN; LOCK TABLE alembic_version IN SHARE MODE")

    try:
        migrated = await asyncio.to_thread(
            run_cli,
            "migrate",
            cwd=tmp_path,
            DATABASE_URL=url,
            MIGRATION_LOCK_TIMEOUT_MS="100",
            MIGRATION_RETRIES="1",
        )
    finally:
        await blocker.close()

    assert migrated.returncode == 1
    assert "Traceback" not in migrated.stderr
    assert (
        migrated.stderr.strip()
        .splitlines()[-1]
        .startswith(
            f"Gave up migrating after revision {before}: in each of 2 attempts, a statement waited "
            "longer than lock_timeout (100 ms) for a lock;"
        )
    )
    assert (await users_schema(url)).revision == before
