"""The reads, shared by the FastAPI routes and the hot paths in front of them."""

from datetime import datetime

import orjson
from starlette.datastructures import State

from db_postgres_service.api.cursors import CursorCodec, KeyValue
from db_postgres_service.api.deps import shared_signer
from db_postgres_service.api.responses import Rendered
from db_postgres_service.users.repository import UserRepository
from db_postgres_service.users.representation import rendered
from db_postgres_service.users.sql import (
    Keyset,
    PageQuery,
    UserFilters,
    UserOrder,
)

USERS_PREFIX = "/api/v1/users"


async def user_by_id(state: State, user_id: int) -> Rendered:
    async with state.statement_pool.connection() as connection:
        return rendered(await UserRepository(connection).get(user_id))


async def user_by_username(state: State, username: str) -> Rendered:
    async with state.statement_pool.connection() as connection:
        return rendered(await UserRepository(connection).get_by_username(username))


async def user_by_email(state: State, email: str) -> Rendered:
    async with state.statement_pool.connection() as connection:
        return rendered(await UserRepository(connection).get_by_email(email))


async def user_page(
    state: State, *, order: UserOrder, filters: UserFilters, cursor: str | None, limit: int
) -> bytes:
    """A page of users as the JSON of schemas.UserPage, with the next page's cursor."""
    codec = CursorCodec(await shared_signer(state))
    after = _keyset(codec.decode(cursor, order.value, filters)) if cursor is not None else None
    async with state.statement_pool.connection() as db:
        # One item more than asked tells whether there is a next page.
        items = await UserRepository(db).page(PageQuery(order, filters, after, limit + 1))
    next_cursor = None
    if len(items) > limit:
        items = items[:limit]
        last = items[-1]
        created_at = datetime.fromisoformat(last["created_at"]) if order.by_creation else None
        key = [last["id"], created_at.isoformat() if created_at else None]
        next_cursor = codec.encode(order.value, filters, key)
    return orjson.dumps({"items": items, "next_cursor": next_cursor})


def _keyset(key: list[KeyValue]) -> Keyset:
    """The keyset a cursor of user_page carries: [id, creation time or None]."""
    user_id, created_at = key
    assert isinstance(user_id, int), "this service signed the cursor"
    return Keyset(
        id=user_id,
        created_at=datetime.fromisoformat(created_at) if isinstance(created_at, str) else None,
    )
