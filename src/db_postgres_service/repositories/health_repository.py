from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


class HealthRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def schema_revision(self) -> str | None:
        """The migration the database is at, or None when it was never migrated."""
        exists = await self.session.scalar(
            text("SELECT to_regclass('alembic_version') IS NOT NULL")
        )
        if not exists:
            return None
        revision = await self.session.scalar(text("SELECT version_num FROM alembic_version"))
        return str(revision) if revision is not None else None
