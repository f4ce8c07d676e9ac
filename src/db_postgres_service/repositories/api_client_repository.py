"""SQL of API clients and their keys."""

import datetime
from dataclasses import dataclass

from db_postgres_service.core.database import DriverConnection

_ADD_KEY = "INSERT INTO api_clients (name, key_prefix, key_hash, scopes) VALUES ($1, $2, $3, $4)"
_ACTIVE_KEY = """
    SELECT k.name, k.key_hash, k.scopes, l.max_in_flight
    FROM api_clients k LEFT JOIN client_limits l USING (name)
    WHERE k.key_hash = $1 AND k.revoked_at IS NULL
"""
_KEYS = """
    SELECT k.id, k.name, k.key_prefix, k.scopes, k.created_at, k.revoked_at, l.max_in_flight
    FROM api_clients k LEFT JOIN client_limits l USING (name)
    ORDER BY k.name, k.id
"""
_SET_LIMIT = """
    INSERT INTO client_limits (name, max_in_flight) VALUES ($1, $2)
    ON CONFLICT (name) DO UPDATE SET max_in_flight = excluded.max_in_flight
"""
_REMOVE_LIMIT = "DELETE FROM client_limits WHERE name = $1"
_HAS_ACTIVE_KEY = "SELECT EXISTS (SELECT FROM api_clients WHERE name = $1 AND revoked_at IS NULL)"
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
    max_in_flight: int | None


@dataclass(frozen=True, slots=True)
class ActiveKey:
    name: str
    key_hash: bytes
    scopes: frozenset[str]
    max_in_flight: int | None


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
        return ActiveKey(
            row["name"], row["key_hash"], frozenset(row["scopes"]), row["max_in_flight"]
        )

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
                row["max_in_flight"],
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

    async def limit(self, name: str, max_in_flight: int | None) -> bool:
        """Set (or, with None, remove) the client's limit of requests in flight; False, and
        nothing changed, when the client has no active key."""
        if not await self.connection.fetchval(_HAS_ACTIVE_KEY, name):
            return False
        if max_in_flight is None:
            await self.connection.execute(_REMOVE_LIMIT, name)
        else:
            await self.connection.execute(_SET_LIMIT, name, max_in_flight)
        return True
