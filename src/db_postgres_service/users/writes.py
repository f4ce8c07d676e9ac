"""User writes that are a single statement, on the driver connection.

A statement on its own is its own transaction, so these need no session and no BEGIN/COMMIT
round trips. The statements are defined once in SQLAlchemy Core (sql.py) and
compiled for asyncpg; writes that must share a transaction with other statements (an
Idempotency-Key's stored response, a batch) stay on UserRepository and its session (repository.py).
"""

import functools
from typing import Any, NoReturn

from db_postgres_service.core.database import (
    DriverStatement,
    StatementConnection,
    driver_statement,
)
from db_postgres_service.core.errors import NotFound, PreconditionFailed
from db_postgres_service.core.versions import ExpectedVersions
from db_postgres_service.users.sql import (
    BIGINT_MAX,
    INSERT_ONE,
    USER_EXISTS,
    NewUser,
    UserRecord,
    conditional_delete,
    conditional_update,
)

_INSERT_ONE = driver_statement(INSERT_ONE)
_USER_EXISTS = driver_statement(USER_EXISTS)


@functools.cache
def _update(fields: frozenset[str], conditional: bool) -> DriverStatement:
    return driver_statement(conditional_update(fields, conditional=conditional))


@functools.cache
def _delete(conditional: bool) -> DriverStatement:
    return driver_statement(conditional_delete(conditional=conditional))


class UserWriter:
    def __init__(self, connection: StatementConnection) -> None:
        self.connection = connection

    async def create(self, user: NewUser) -> UserRecord:
        """Insert one user; a taken email or username surfaces as a unique violation."""
        values = {
            "email": user.email,
            "username": user.username,
            "hashed_password": user.hashed_password,
        }
        row = await self.connection.fetchrow(_INSERT_ONE.sql, *_INSERT_ONE.arguments(values))
        assert row is not None, "INSERT ... RETURNING returns the row it inserted"
        return UserRecord(*row)

    async def update(
        self, user_id: int, values: dict[str, str], expected: ExpectedVersions
    ) -> UserRecord:
        """Apply `values`, bump the version and stamp updated_at, if the version is expected."""
        statement = _update(frozenset(values), expected is not None)
        arguments = self._target(user_id, expected) | values
        row = await self.connection.fetchrow(statement.sql, *statement.arguments(arguments))
        if row is None:
            await self._explain_miss(user_id)
        return UserRecord(*row)

    async def delete(self, user_id: int, expected: ExpectedVersions) -> None:
        statement = _delete(expected is not None)
        arguments = self._target(user_id, expected)
        if await self.connection.fetchrow(statement.sql, *statement.arguments(arguments)) is None:
            await self._explain_miss(user_id)

    def _target(self, user_id: int, expected: ExpectedVersions) -> dict[str, Any]:
        if not 1 <= user_id <= BIGINT_MAX:
            # No row can have such an id; PostgreSQL would refuse the parameter outright.
            raise NotFound(f"No user has id {user_id}.", missing="user")
        if expected is None:
            return {"user_id": user_id}
        return {"user_id": user_id, "versions": sorted(expected)}

    async def _explain_miss(self, user_id: int) -> NoReturn:
        """After a conditional write matched nothing: was the user missing, or the version?"""
        exists = await self.connection.fetchval(
            _USER_EXISTS.sql, *_USER_EXISTS.arguments({"user_id": user_id})
        )
        if exists is None:
            raise NotFound(f"No user has id {user_id}.", missing="user")
        raise PreconditionFailed("The user has changed: If-Match does not match its ETag.")
