"""The reads of a standard resource, shared by its FastAPI routes and the fast lane in front
of them (api/hot_paths.py): one row by id or by a unique lookup, and keyset pages."""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.datastructures import State

from db_postgres_service.api.cursors import CursorCodec
from db_postgres_service.api.deps import shared_signer
from db_postgres_service.api.pages import keyset_page
from db_postgres_service.api.rendering import page_json, rendered
from db_postgres_service.api.responses import Rendered
from db_postgres_service.api.standard import NOTHING, Lookup, QueryFilter
from db_postgres_service.core.keyset import ListShape
from db_postgres_service.core.table_repository import Table, TableRepository, is_id

if TYPE_CHECKING:
    from db_postgres_service.api.cursors import Filters

# The filters a list was asked with, as a frozen dataclass its cursors are bound to: one field
# per query filter, and `of`, the parent's id, for a nested resource's list.
FiltersType = type[Any]


@dataclass(frozen=True)
class StandardReads:
    table: Table
    shape: ListShape
    query_filters: tuple[QueryFilter, ...]
    filters_type: FiltersType

    async def by_id(self, state: State, row_id: int) -> Rendered:
        async with state.statement_pool.connection() as db:
            return rendered(await TableRepository(self.table, db).get(row_id))

    async def by_lookup(
        self, state: State, lookup: Lookup, value: str, parent_id: int | None
    ) -> Rendered:
        async with state.statement_pool.connection() as db:
            row = await TableRepository(self.table, db).get_by(
                self._lookup_condition(lookup), lookup.field, value, parent_id
            )
        return rendered(row)

    def _lookup_condition(self, lookup: Lookup) -> str:
        parent = self.table.parent
        if parent is None:
            return lookup.condition()
        return f"{lookup.condition()} AND {parent.column} = $2"

    async def page(
        self,
        state: State,
        *,
        order: str,
        given: Mapping[str, Any],
        parent_id: int | None,
        cursor: str | None,
        limit: int,
    ) -> bytes:
        """A page as the JSON of the resource's Page model. `given` holds the query filters
        sent (by name, as sent); a nested resource's list is its parent's (404 when the parent
        does not exist)."""
        bound: dict[str, Any] = dict(given)
        values: dict[str, Any] = {}
        if parent_id is not None:
            if not is_id(parent_id):
                await self._require_parent(state, parent_id)
            bound["of"] = values["scope"] = parent_id
        filters: Filters = self.filters_type(**bound)
        for query_filter in self.query_filters:
            sent = given.get(query_filter.name)
            if sent is None:
                continue
            value = query_filter.value(sent)
            if value is NOTHING:
                return await self._no_match(state, order, filters, parent_id, cursor)
            values[query_filter.name] = value
        rows, next_cursor = await keyset_page(
            state,
            self.shape,
            order=order,
            filters=filters,
            values=values,
            cursor=cursor,
            limit=limit,
        )
        if not rows and parent_id is not None:
            # An empty page may be an unknown parent: only then is it worth asking.
            await self._require_parent(state, parent_id)
        return page_json(rows, self.table.sql.timestamp_columns, next_cursor)

    async def _no_match(
        self,
        state: State,
        order: str,
        filters: "Filters",
        parent_id: int | None,
        cursor: str | None,
    ) -> bytes:
        """The empty page of a filter no row can match, once its cursor and parent hold."""
        if cursor is not None:
            CursorCodec(await shared_signer(state)).decode(cursor, order, filters)
        if parent_id is not None:
            await self._require_parent(state, parent_id)
        return page_json([], (), None)

    async def _require_parent(self, state: State, parent_id: int) -> None:
        async with state.statement_pool.connection() as db:
            await TableRepository(self.table, db).require_parent(parent_id)
