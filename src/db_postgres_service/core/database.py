"""Engine and per-request unit of work."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from db_postgres_service.core.config import Settings

APPLICATION_NAME = "db-postgres-service"


def create_engine(settings: Settings) -> AsyncEngine:
    """An engine whose every connection fails fast and cannot run away.

    The connect timeout bounds how long a request waits while PostgreSQL is down; the
    statement timeout is set per connection so that a runaway query ends with 503 instead of
    holding a pool slot forever.
    """
    server_settings = {"application_name": APPLICATION_NAME}
    if settings.db_statement_timeout_ms:
        server_settings["statement_timeout"] = str(settings.db_statement_timeout_ms)
    return create_async_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout,
        pool_recycle=settings.db_pool_recycle,
        # Parameters hold password hashes: keep them out of logs and exception messages.
        hide_parameters=True,
        connect_args={"timeout": settings.db_connect_timeout, "server_settings": server_settings},
    )


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    # Repositories return plain records, never ORM instances that could lazy-load after the
    # transaction ended, so nothing needs refreshing after commit.
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


@asynccontextmanager
async def unit_of_work(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """One transaction: committed when the block ends normally, rolled back on any exception."""
    async with sessionmaker() as session, session.begin():
        yield session
