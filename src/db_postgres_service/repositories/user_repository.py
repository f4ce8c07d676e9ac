"""All SQL about users. Takes the request's session; never commits (the unit of work does)."""

import datetime
from dataclasses import dataclass

from sqlalchemy import ColumnElement, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from db_postgres_service.core.errors import NotFound
from db_postgres_service.models import User


@dataclass(frozen=True, slots=True)
class UserRecord:
    id: int
    email: str
    username: str
    hashed_password: str
    created_at: datetime.datetime
    updated_at: datetime.datetime
    version: int


BIGINT_MAX = 2**63 - 1

_COLUMNS = (
    User.id,
    User.email,
    User.username,
    User.hashed_password,
    User.created_at,
    User.updated_at,
    User.version,
)


class UserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, user_id: int) -> UserRecord:
        if not 1 <= user_id <= BIGINT_MAX:
            # No row can have such an id; PostgreSQL would refuse the parameter outright.
            raise NotFound(f"No user has id {user_id}.")
        return await self._one(User.id == user_id, f"No user has id {user_id}.")

    async def get_by_username(self, username: str) -> UserRecord:
        return await self._one(
            func.lower(User.username) == username.lower(), "No user has this username."
        )

    async def create(self, *, email: str, username: str, hashed_password: str) -> UserRecord:
        """Insert one user; a taken email or username surfaces as a unique violation."""
        statement = (
            insert(User)
            .values(email=email, username=username, hashed_password=hashed_password)
            .returning(*_COLUMNS)
        )
        row = (await self.session.execute(statement)).one()
        return UserRecord(*row)

    async def _one(self, condition: ColumnElement[bool], missing: str) -> UserRecord:
        row = (await self.session.execute(select(*_COLUMNS).where(condition))).one_or_none()
        if row is None:
            raise NotFound(missing)
        return UserRecord(*row)
