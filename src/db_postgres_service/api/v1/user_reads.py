"""The single-user reads, shared by the FastAPI routes and the hot path in front of them."""

from starlette.datastructures import State

from db_postgres_service.core.database import statement_connection
from db_postgres_service.repositories.user_reader import PublicUser, UserReader

USERS_PREFIX = "/api/v1/users"
# The longest decimal a bigint id can have; longer ones go to FastAPI (and are 404 there).
_MAX_ID_DIGITS = 19


async def user_by_id(state: State, user_id: int) -> PublicUser:
    async with statement_connection(
        state.statement_pool, state.settings.db_pool_timeout
    ) as connection:
        return await UserReader(connection).get(user_id)


async def user_by_username(state: State, username: str) -> PublicUser:
    async with statement_connection(
        state.statement_pool, state.settings.db_pool_timeout
    ) as connection:
        return await UserReader(connection).get_by_username(username)


async def user_by_email(state: State, email: str) -> PublicUser:
    async with statement_connection(
        state.statement_pool, state.settings.db_pool_timeout
    ) as connection:
        return await UserReader(connection).get_by_email(email)


def is_plain_id(segment: str) -> bool:
    """Digits exactly as FastAPI would read them back: no sign, no leading zero, no spaces."""
    return (
        segment.isascii()
        and segment.isdigit()
        and segment[0] != "0"
        and len(segment) <= _MAX_ID_DIGITS
    )
