from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from db_postgres_service.models import ServiceSecret

SIGNING_KEY = "signing_key"


class SecretRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, name: str) -> bytes:
        value = await self.session.scalar(
            select(ServiceSecret.value).where(ServiceSecret.name == name)
        )
        if value is None:
            raise LookupError(f"service secret {name!r} is missing; run the migrations")
        return value
