"""A keyset page of any list (core/keyset.py), read on the statement pool, with the signed
cursor of the next page (api/cursors.py)."""

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import asyncpg
from starlette.datastructures import State

from db_postgres_service.api.cursors import CursorCodec, KeyValue
from db_postgres_service.api.deps import shared_signer
from db_postgres_service.core.keyset import ListShape, PageOrder, page_sql

if TYPE_CHECKING:
    from db_postgres_service.api.cursors import Filters


def _keyset_values(key: list[KeyValue]) -> dict[str, Any]:
    """The keyset a cursor carries: [id, creation time or None]."""
    after_id, created_at = key
    values: dict[str, Any] = {"after_id": after_id}
    if isinstance(created_at, str):
        values["after_created_at"] = datetime.datetime.fromisoformat(created_at)
    return values


async def keyset_page(
    state: State,
    shape: ListShape,
    *,
    order: str,
    filters: "Filters",
    values: Mapping[str, Any],
    cursor: str | None,
    limit: int,
) -> tuple[list[asyncpg.Record], str | None]:
    """Up to `limit` rows after `cursor` in `order` (the list's own name for it), and the
    cursor of the next page (None on the last). `values` holds the `scope` and the filters
    given; `filters` is all of them as the frozen dataclass the cursor is bound to."""
    page_order = PageOrder.of(order)
    codec = CursorCodec(await shared_signer(state))
    arguments = dict(values)
    if cursor is not None:
        arguments |= _keyset_values(codec.decode(cursor, order, filters))
    # One row more than asked tells whether there is a next page.
    arguments["limit"] = limit + 1
    statement = page_sql(shape, page_order, frozenset(values), cursor is not None)
    async with state.statement_pool.connection() as db:
        rows = await db.fetch(statement.sql, *statement.arguments(arguments))
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    last = rows[-1]
    created_at = _creation_key(last["created_at"]) if page_order.by_creation else None
    return rows, codec.encode(order, filters, [last[shape.id_column], created_at])


def _creation_key(created_at: datetime.datetime | str) -> str:
    """A creation time for a cursor, read as a datetime or as UTC text (core/table_sql.py)."""
    if isinstance(created_at, str):
        created_at = datetime.datetime.fromisoformat(created_at).replace(tzinfo=datetime.UTC)
    return created_at.isoformat()
