"""SQL of API clients and their keys."""

import datetime
from dataclasses import dataclass

from db_postgres_service.core.database import DriverConnection

_ADD_KEY = "INSERT INTO api_clients (name, key_prefix, key_hash, scopes) VALUES ($1, $2, $3, $4)"
_ACTIVE_KEY = (
    "SELECT name, key_hash, scopes FROM api_clients WHERE key_hash = $1 AND revoked_at IS NULL"
)
_KEYS = (
    "SELECT id, name, key_prefix, scopes, created_at, revoked_at FROM api_clients ORDER BY name, id"
)
_REVOKE = """
    UPDATE api_clients SET revoked_at = now()
    WHERE name = $1 AND revoked_at IS NULL AND ($2::text IS NULL OR key_prefix = $2::text)
    RETURNING id
"""
# Scopes stay sorted and distinct as `clients create` stores them (in Python's order: "C").
_GRANT = """
    UPDATE api_clients
    SET scopes = ARRAY(
        SELECT DISTINCT s COLLATE "C" FROM unnest(scopes || $2::varchar[]) AS s ORDER BY 1
    )
    WHERE name = $1 AND revoked_at IS NULL
    RETURNING id
"""
_TAKE = """
    UPDATE api_clients
    SET scopes = ARRAY(
        SELECT s FROM unnest(scopes) AS s WHERE s <> ALL($2::varchar[]) ORDER BY s COLLATE "C"
    )
    WHERE name = $1 AND revoked_at IS NULL
    RETURNING id
"""


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
    def __init__(self, connection: DriverConnection) -> None:
        self.connection = connection

    async def add_key(
        self, *, name: str, key_prefix: str, key_hash: bytes, scopes: list[str]
    ) -> None:
        await self.connection.execute(_ADD_KEY, name, key_prefix, key_hash, scopes)

    async def active_key(self, key_hash: bytes) -> ActiveKey | None:
        row = await self.connection.fetchrow(_ACTIVE_KEY, key_hash)
        if row is None:
            return None
        return ActiveKey(row["name"], row["key_hash"], frozenset(row["scopes"]))

    async def keys(self) -> list[ClientKey]:
        rows = await self.connection.fetch(_KEYS)
        return [
            ClientKey(
                row["id"],
                row["name"],
                row["key_prefix"],
                tuple(row["scopes"]),
                row["created_at"],
                row["revoked_at"],
            )
            for row in rows
        ]

    async def revoke(self, name: str, key_prefix: str | None = None) -> int:
        """Revoke the client's active keys (or only the one with `key_prefix`); how many."""
        return len(await self.connection.fetch(_REVOKE, name, key_prefix))

    async def grant(self, name: str, scopes: list[str]) -> int:
        """Add `scopes` to each of the client's active keys; how many it has (0: none)."""
        return len(await self.connection.fetch(_GRANT, name, scopes))

    async def take(self, name: str, scopes: list[str]) -> int:
        """Remove `scopes` from each of the client's active keys; how many it has (0: none)."""
        return len(await self.connection.fetch(_TAKE, name, scopes))
