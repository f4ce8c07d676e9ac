"""SQL of API clients and their keys."""

import datetime
from dataclasses import dataclass

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db_postgres_service.models import ApiClient


@dataclass(frozen=True, slots=True)
class ClientKey:
    id: int
    name: str
    key_prefix: str
    scopes: tuple[str, ...]
    created_at: datetime.datetime
    revoked_at: datetime.datetime | None


@dataclass(frozen=True, slots=True)
class ActiveKey:
    name: str
    key_hash: bytes
    scopes: frozenset[str]


class ApiClientRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add_key(
        self, *, name: str, key_prefix: str, key_hash: bytes, scopes: list[str]
    ) -> None:
        await self.session.execute(
            insert(ApiClient).values(
                name=name, key_prefix=key_prefix, key_hash=key_hash, scopes=scopes
            )
        )

    async def active_key(self, key_hash: bytes) -> ActiveKey | None:
        row = (
            await self.session.execute(
                select(ApiClient.name, ApiClient.key_hash, ApiClient.scopes).where(
                    ApiClient.key_hash == key_hash, ApiClient.revoked_at.is_(None)
                )
            )
        ).one_or_none()
        return None if row is None else ActiveKey(row.name, row.key_hash, frozenset(row.scopes))

    async def keys(self) -> list[ClientKey]:
        rows = await self.session.execute(
            select(
                ApiClient.id,
                ApiClient.name,
                ApiClient.key_prefix,
                ApiClient.scopes,
                ApiClient.created_at,
                ApiClient.revoked_at,
            ).order_by(ApiClient.name, ApiClient.id)
        )
        return [
            ClientKey(
                row.id, row.name, row.key_prefix, tuple(row.scopes), row.created_at, row.revoked_at
            )
            for row in rows
        ]

    async def revoke(self, name: str, key_prefix: str | None = None) -> int:
        """Revoke the client's active keys (or only the one with `key_prefix`); how many."""
        conditions = [ApiClient.name == name, ApiClient.revoked_at.is_(None)]
        if key_prefix is not None:
            conditions.append(ApiClient.key_prefix == key_prefix)
        result = await self.session.execute(
            update(ApiClient)
            .where(*conditions)
            .values(revoked_at=func.now())
            .returning(ApiClient.id)
        )
        return len(result.all())
