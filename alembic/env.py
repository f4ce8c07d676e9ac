"""Alembic environment: async engine; each migration in its own transaction, waiting for locks
no longer than `lock_timeout` and retried when it times out (core/migration_retries.py); a
session advisory lock so that concurrent upgrades serialise. Offline (--sql) mode writes the
same statements as SQL, which the migration lint reads (dev/migration_lint.py)."""

import asyncio
import time
from logging.config import fileConfig
from typing import Any

from sqlalchemy import pool, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from alembic import context
from db_postgres_service.core.config import Settings
from db_postgres_service.core.migration_retries import LockPatience, run_giving_way
from db_postgres_service.core.migrations import LOCK_PATIENCE, MIGRATION_LOCK_KEY
from db_postgres_service.models import Base
from db_postgres_service.resources import RESOURCES  # noqa: F401 - their tables join Base

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logging", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

# How often an instance waiting for another one's upgrade asks for its turn again.
TURN_POLL_SECONDS = 0.2


def _database_url() -> str:
    url = config.attributes.get("database_url")
    return url if isinstance(url, str) else Settings().database_url


def _patience() -> LockPatience:
    given = config.attributes.get(LOCK_PATIENCE)
    return given if isinstance(given, LockPatience) else LockPatience.from_settings(Settings())


def _configure(**options: Any) -> None:
    context.configure(
        target_metadata=Base.metadata,
        compare_type=True,
        compare_server_default=True,
        # Each migration commits on its own, so that a step retried after a lock timeout
        # starts from the first one not yet recorded, and so that a step may leave its
        # transaction for an autocommit_block (CREATE INDEX CONCURRENTLY).
        transaction_per_migration=True,
        **options,
    )


def _take_turn(connection: Connection) -> None:
    """Wait until no other instance migrates, then hold the lock for this session.

    Polled between transactions rather than awaited with pg_advisory_lock: a waiting statement
    holds a snapshot, which a CREATE INDEX CONCURRENTLY of the instance that migrates waits for,
    so each would wait for the other. The lock outlives each step's transaction and ends with
    the connection, which the NullPool really closes.
    """
    take = text("SELECT pg_try_advisory_lock(:key)")
    while not connection.execute(take, {"key": MIGRATION_LOCK_KEY}).scalar_one():
        connection.commit()
        time.sleep(TURN_POLL_SECONDS)
    connection.commit()


def _run(connection: Connection) -> None:
    _configure(connection=connection)
    _take_turn(connection)
    patience = _patience()
    for statement in patience.session_settings():
        connection.execute(text(statement))
    connection.commit()

    def recorded_revision() -> str | None:
        revision = context.get_context().get_current_revision()
        # Not idle in a transaction (holding alembic_version) through the pause.
        connection.rollback()
        return revision

    run_giving_way(
        context.run_migrations,
        patience,
        rollback=connection.rollback,
        revision=recorded_revision,
    )


async def _run_online() -> None:
    engine = create_async_engine(_database_url(), poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
    finally:
        await engine.dispose()


def _run_offline() -> None:
    """The SQL the upgrade would run, for review and for the lint: the session's settings,
    then each migration between BEGIN and COMMIT (an autocommit block outside them)."""
    _configure(dialect_name="postgresql", literal_binds=True)
    for statement in _patience().session_settings():
        context.execute(statement)
    context.run_migrations()


if context.is_offline_mode():
    _run_offline()
else:
    asyncio.run(_run_online())
