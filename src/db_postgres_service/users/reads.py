"""The reads: one prepared statement each on the driver connection.

Measured (bench/README.md): going through the session costs a BEGIN/COMMIT pair and the
ORM/Core row machinery per read; a single prepared statement outside a transaction returns
the same committed rows in one round trip. Writes stay on UserRepository and its session.
"""

from typing import Any

import asyncpg

from db_postgres_service.core.database import (
    DriverStatement,
    StatementConnection,
    driver_statement,
)
from db_postgres_service.core.errors import NotFound
from db_postgres_service.users.sql import (
    BIGINT_MAX,
    PageQuery,
    UserOrder,
    page_statement,
    storable,
)

_BY_ID = "SELECT id, email, username, created_at, updated_at, version FROM users WHERE id = $1"
_BY_USERNAME = (
    "SELECT id, email, username, created_at, updated_at, version FROM users"
    " WHERE lower(username) = lower($1)"
)
_BY_EMAIL = (
    "SELECT id, email, username, created_at, updated_at, version FROM users WHERE email = lower($1)"
)

PublicUser = asyncpg.Record
# A user of a page as the wire shows it (users/schemas.py UserOut): timestamps already in RFC 3339.
PageItem = dict[str, Any]
# One compiled statement per page shape (order and which filters are given): at most 256.
_PAGES: dict[tuple[UserOrder, frozenset[str]], DriverStatement] = {}


class UserReader:
    def __init__(self, connection: StatementConnection) -> None:
        self.connection = connection

    async def get(self, user_id: int) -> PublicUser:
        if not 1 <= user_id <= BIGINT_MAX:
            raise NotFound(f"No user has id {user_id}.", missing="user")
        return await self._one(_BY_ID, user_id, f"No user has id {user_id}.")

    async def get_by_username(self, username: str) -> PublicUser:
        return await self._one(_BY_USERNAME, username, "No user has this username.")

    async def get_by_email(self, email: str) -> PublicUser:
        return await self._one(_BY_EMAIL, email, "No user has this email.")

    async def page(self, query: PageQuery) -> list[PageItem]:
        if query.matches_nothing():
            return []
        values = query.parameters()
        shape = (query.order, frozenset(values))
        statement = _PAGES.get(shape)
        if statement is None:
            statement = _PAGES[shape] = driver_statement(page_statement(*shape))
        rows = await self.connection.fetch(statement.sql, *statement.arguments(values))
        return [
            {
                "id": user_id,
                "email": email,
                "username": username,
                "created_at": _rfc3339(created_at),
                "updated_at": _rfc3339(updated_at),
                "version": version,
            }
            for user_id, email, username, created_at, updated_at, version in rows
        ]

    async def _one(self, sql: str, value: object, missing: str) -> PublicUser:
        if isinstance(value, str) and not storable(value):
            raise NotFound(missing, missing="user")
        row = await self.connection.fetchrow(sql, value)
        if row is None:
            raise NotFound(missing, missing="user")
        return row


# What completes page_statement's text of a UTC timestamp, by its length: PostgreSQL writes
# 'YYYY-MM-DD HH:MM:SS' and a fraction with its trailing zeros trimmed (none when zero).
_SUFFIXES = {19: "Z", **{length: "0" * (26 - length) + "Z" for length in range(21, 27)}}


def _rfc3339(utc_text: str) -> str:
    """The timestamp exactly as orjson writes the datetime (as the single-user reads do): a
    'T', six fraction digits or none when they are all zero, a 'Z'. A dict lookup and one
    replace: a page has a hundred of them."""
    return utc_text.replace(" ", "T") + _SUFFIXES[len(utc_text)]
