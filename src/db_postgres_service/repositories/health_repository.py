import asyncpg


class HealthRepository:
    """What the readiness probe asks the database, on a connection of its own."""

    def __init__(self, connection: "asyncpg.pool.PoolConnectionProxy[asyncpg.Record]") -> None:
        self.connection = connection

    async def schema_revision(self) -> str | None:
        """The migration the database is at, or None when it was never migrated."""
        exists = await self.connection.fetchval("SELECT to_regclass('alembic_version') IS NOT NULL")
        if not exists:
            return None
        revision = await self.connection.fetchval("SELECT version_num FROM alembic_version")
        return str(revision) if revision is not None else None
