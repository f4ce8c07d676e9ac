"""Single-statement user writes on the driver connection, for the hot create path.

The statement is UserRepository's own, compiled for asyncpg: one definition, two executors.
A statement on its own is its own transaction, so it needs no session and no BEGIN/COMMIT
round trips; writes that must share a transaction (Idempotency-Key) stay on UserRepository.
"""

from db_postgres_service.core.database import StatementConnection, driver_statement
from db_postgres_service.repositories.user_repository import INSERT_ONE, NewUser, UserRecord

_INSERT_ONE = driver_statement(INSERT_ONE)


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
