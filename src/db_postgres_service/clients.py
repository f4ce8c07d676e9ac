"""Managing API clients from the command line: each call opens its own connection."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from db_postgres_service.core.api_keys import new_key
from db_postgres_service.core.config import Settings
from db_postgres_service.core.database import connect
from db_postgres_service.repositories.api_client_repository import ApiClientRepository, ClientKey


@asynccontextmanager
async def _clients(database_url: str) -> AsyncIterator[ApiClientRepository]:
    connection = await connect(Settings(database_url=database_url))
    try:
        async with connection.transaction():
            yield ApiClientRepository(connection)
    finally:
        await connection.close()


async def create_client(
    database_url: str, name: str, scopes: list[str], *, max_in_flight: int | None = None
) -> str:
    """Add a key for `name` (a second one while it rotates) and return it; only its hash stays.
    With `max_in_flight`, the client's limit is set too (else a rotation keeps the one it has)."""
    key = new_key()
    async with _clients(database_url) as clients:
        await clients.add_key(
            name=name,
            key_prefix=key.prefix,
            key_hash=key.digest,
            scopes=sorted(set(scopes)),
        )
        if max_in_flight is not None:
            await clients.limit(name, max_in_flight)
    return key.key


async def limit_client(database_url: str, name: str, max_in_flight: int | None) -> bool:
    async with _clients(database_url) as clients:
        return await clients.limit(name, max_in_flight)


async def list_clients(database_url: str) -> list[ClientKey]:
    async with _clients(database_url) as clients:
        return await clients.keys()


async def revoke_client(database_url: str, name: str, key_prefix: str | None) -> int:
    async with _clients(database_url) as clients:
        return await clients.revoke(name, key_prefix)


async def grant_scopes(database_url: str, name: str, scopes: list[str]) -> int:
    async with _clients(database_url) as clients:
        return await clients.grant(name, scopes)


async def revoke_scopes(database_url: str, name: str, scopes: list[str]) -> int:
    async with _clients(database_url) as clients:
        return await clients.take(name, scopes)
