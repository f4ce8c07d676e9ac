"""Serves a standard resource (api/standard.py): its routes with every promise of the
contract's "Every resource", their OpenAPI declarations and scopes, and their fast-lane
entries (api/hot_paths.py), all from the one declaration.

The routes are ordinary FastAPI routes whose signatures are built from the declaration, so
FastAPI validates, documents and answers them as it does any hand-written route; a feature's
own routes (a password check, a rule across rows) are added beside them unchanged.
"""

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, make_dataclass
from enum import StrEnum
from typing import Annotated, Any, cast

from fastapi import APIRouter, Body, Path, Query, Request, Response, status
from fastapi.routing import APIRoute
from pydantic import BaseModel
from sqlalchemy import Table
from starlette.convertors import register_url_convertor
from starlette.datastructures import State

from db_postgres_service.api.conditional import expected_versions
from db_postgres_service.api.declarations import (
    CONDITIONAL_GET,
    ETAG,
    IN_FLIGHT,
    IfMatch,
    idempotent_post,
    location,
    one_resource,
    success,
)
from db_postgres_service.api.deps import IdempotencyDep, SettingsDep, TransactionDep
from db_postgres_service.api.hot_paths import (
    HotCreate,
    HotPage,
    HotRead,
    PathParams,
    is_plain_id,
    route_of,
)
from db_postgres_service.api.idempotency import Idempotency
from db_postgres_service.api.problems import common_statuses, problem_responses
from db_postgres_service.api.rendering import rendered
from db_postgres_service.api.resource import Resource
from db_postgres_service.api.responses import JSON_MEDIA_TYPE, Created, resource_response
from db_postgres_service.api.routing import StrictRoute, segment_except
from db_postgres_service.api.scopes import requires
from db_postgres_service.api.standard import Case, Columns, Lookup, StandardResource
from db_postgres_service.api.standard_reads import StandardReads
from db_postgres_service.core.database import StatementConnection
from db_postgres_service.core.db_errors import serve_table
from db_postgres_service.core.outbox import EventSource
from db_postgres_service.core.table_repository import (
    Parent,
    Row,
    TableRepository,
    is_id,
)
from db_postgres_service.core.table_repository import Table as RepositoryTable
from db_postgres_service.core.table_sql import TableSql
from db_postgres_service.schemas.derived import change_body, create_body, output_model, page_model

PREFIX = "/api/v1"
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)]
Cursor = Annotated[str | None, Query(max_length=2048)]
_ORDERS = {
    "ID": "id",
    "ID_DESC": "-id",
    "CREATED_AT": "created_at",
    "CREATED_AT_DESC": "-created_at",
}
_EMPTY = inspect.Parameter.empty


def _parameter(name: str, annotation: Any, default: Any = _EMPTY) -> inspect.Parameter:
    return inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=default
    )


def _endpoint(
    name: str,
    parameters: list[inspect.Parameter],
    run: Callable[[dict[str, Any]], Awaitable[Response]],
) -> Callable[..., Awaitable[Response]]:
    """An endpoint FastAPI reads like a written one: its name (the operation id) and its
    signature (what FastAPI validates and documents) are the declaration's."""

    async def endpoint(**values: Any) -> Response:
        return await run(values)

    endpoint.__name__ = endpoint.__qualname__ = name
    endpoint.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        parameters, return_annotation=Response
    )
    return endpoint


def _title(noun: str) -> str:
    return "".join(part.title() for part in noun.split("_"))


def _a(noun: str) -> str:
    # By the first letter's sound in the nouns a table names: "an organization", but "a user".
    return f"an {noun}" if noun[0] in "aeio" else f"a {noun}"


def _noun(table: Table) -> str:
    noun = table.info.get("noun")
    assert isinstance(noun, str), f"table {table.name} declares its rows' noun in info"
    return noun


def _referring_column(table: Table, parent: Table) -> str:
    """The column of `table` whose foreign key points at `parent`."""
    return next(key.parent.name for key in table.foreign_keys if key.column.table is parent)


def _id_path(noun: str) -> Any:
    return Annotated[int, Path(description=f"The {noun}'s id.", examples=[1])]


async def _fields_as_columns(state: State, body: BaseModel) -> Columns:
    """The default body-to-columns: the fields given, by name (a MISSING field is left out)."""
    return body.model_dump()


@dataclass(frozen=True)
class ServedResource:
    """What the toolkit built from a declaration: what the suites need to exercise it."""

    declaration: StandardResource
    noun: str
    plural: str
    collection_path: str
    item_path: str
    parent_noun: str | None
    create_body: type[BaseModel]
    update_body: type[BaseModel]
    out: type[BaseModel]
    reads: StandardReads
    events: EventSource


class _Builder:
    """Builds one declaration's routes and fast-lane entries."""

    def __init__(self, declaration: StandardResource, extra: APIRouter | None) -> None:
        self.declaration = declaration
        table = declaration.table
        self.noun = _noun(table)
        self.plural = table.name
        title = _title(self.noun)
        self.create_body = declaration.create or create_body(
            f"{title}Create", table, declaration.fields
        )
        self.update_body = declaration.update or change_body(f"{title}Update", declaration.fields)
        self.out = declaration.out or output_model(f"{title}Out", table, tuple(table.c.keys()))
        self.page = page_model(self.out)
        self.order = cast(type[StrEnum], StrEnum(f"{title}Order", _ORDERS))
        parent: Parent | None = None
        self.parent_param: str | None = None
        self.collection = f"{PREFIX}/{self.plural}"
        if declaration.parent is not None:
            parent_table = cast(Table, declaration.parent.__table__)
            parent = Parent(
                TableSql(parent_table, ("id",)),
                _noun(parent_table),
                _referring_column(table, parent_table),
                subject=f"{parent_table.name}/{{id}}",
            )
            self.parent_param = f"{parent.noun}_id"
            self.collection = f"{PREFIX}/{parent_table.name}/{{{self.parent_param}}}/{self.plural}"
        self.parent = parent
        columns = tuple(self.out.model_fields)
        self.events = EventSource(table, self.noun, f"{self.plural}/{{id}}", columns)
        sql = TableSql(table, columns, parent.column if parent else None, self.events)
        self.table = RepositoryTable(sql, self.noun, parent)
        query_filters = tuple(
            query_filter
            for declared in declaration.filters
            for query_filter in declared.query_filters(table)
        )
        bound: list[tuple[str, Any, None]] = [(each.name, Any, None) for each in query_filters]
        if parent is not None:
            bound.append(("of", int | None, None))
        self.reads = StandardReads(
            self.table,
            sql.list_shape(tuple((each.name, each.condition) for each in query_filters)),
            query_filters,
            make_dataclass(f"{title}Filters", bound, frozen=True),
        )
        self.id_param = f"{self.noun}_id"
        self.item_format = f"{PREFIX}/{self.plural}/{{{self.id_param}}}"
        self.item_path = self._item_path(extra)
        self.to_columns = declaration.to_columns or _fields_as_columns
        self.change_columns = declaration.change_columns or _fields_as_columns
        self.router = APIRouter(route_class=StrictRoute)

    def _item_path(self, extra: APIRouter | None) -> str:
        """The path of one row; where the feature's own routes have literal segments beside
        the id (`/users/batch`), the id matches any segment but those (api/routing.py)."""
        beside = f"{PREFIX}/{self.plural}/"
        reserved = sorted(
            {
                route.path.removeprefix(beside)
                for route in (extra.routes if extra is not None else ())
                if isinstance(route, APIRoute)
                and route.path.startswith(beside)
                and "/" not in route.path.removeprefix(beside)
                and "{" not in route.path
            }
        )
        if not reserved:
            return self.item_format
        register_url_convertor(self.id_param, segment_except(*reserved))
        return f"{PREFIX}/{self.plural}/{{{self.id_param}:{self.id_param}}}"

    # --- shared by the routes and the fast lane ----------------------------------------------

    def _location(self, row: Row) -> str:
        return self.item_format.format(**{self.id_param: row["id"]})

    async def _insert(
        self,
        state: State,
        connection: StatementConnection,
        body: Any,
        parent_id: int | None,
        actor: str,
    ) -> Row:
        columns = await self.to_columns(state, body)
        if self.parent is not None:
            assert parent_id is not None, "a nested resource is created under its parent's path"
            if not is_id(parent_id):
                raise self.parent.missing(parent_id)
            columns[self.parent.column] = parent_id
        return await TableRepository(self.table, connection, actor=actor).create(columns)

    def _writer(self, request: Request, connection: StatementConnection) -> TableRepository:
        return TableRepository(
            self.table,
            connection,
            actor=request.state.client,
            outbox=request.app.state.outbox,
        )

    def _parent_id(self, values: PathParams | dict[str, Any]) -> int | None:
        return None if self.parent_param is None else int(values[self.parent_param])

    def _parent_parameters(self) -> list[inspect.Parameter]:
        if self.parent is None or self.parent_param is None:
            return []
        return [_parameter(self.parent_param, _id_path(self.parent.noun))]

    def _is_plain_parent(self, params: PathParams) -> bool:
        return self.parent_param is None or is_plain_id(params[self.parent_param])

    # --- the routes ----------------------------------------------------------------------------

    def _add(
        self,
        path: str,
        method: str,
        name: str,
        parameters: list[inspect.Parameter],
        run: Callable[[dict[str, Any]], Awaitable[Response]],
        **options: Any,
    ) -> None:
        self.router.add_api_route(
            path,
            _endpoint(name, parameters, run),
            methods=[method],
            tags=[self.plural],
            **options,
        )

    def create(self) -> None:
        declaration = self.declaration
        examples = dict(declaration.create_examples)

        async def run(values: dict[str, Any]) -> Response:
            request: Request = values["request"]

            async def create() -> Response:
                row = await self._insert(
                    request.app.state,
                    values["transaction"],
                    values["body"],
                    self._parent_id(values),
                    request.state.client,
                )
                return resource_response(
                    rendered(row),
                    request,
                    status_code=status.HTTP_201_CREATED,
                    location=self._location(row),
                )

            idempotency: Idempotency = values["idempotency"]
            return await idempotency.respond(create)

        parameters = [
            *self._parent_parameters(),
            _parameter("body", Annotated[self.create_body, Body(openapi_examples=examples)]),
            _parameter("idempotency", IdempotencyDep),
            _parameter("transaction", TransactionDep),
            _parameter("request", Request),
        ]
        pattern = f"^{PREFIX}/{self.plural}/[0-9]+$"
        self._add(
            self.collection,
            "POST",
            f"create_{self.noun}",
            parameters,
            run,
            status_code=status.HTTP_201_CREATED,
            response_model=self.out,
            responses=idempotent_post(
                f"The new {self.noun}",
                {**ETAG, **location(pattern)},
                IN_FLIGHT.format(""),
                *((404,) if self.parent else ()),
            ),
            summary=f"Create {_a(self.noun)}",
            dependencies=[requires(declaration.write_scope)],
        )

    def listing(self) -> None:
        reads = self.reads

        async def run(values: dict[str, Any]) -> Response:
            given = {
                each.name: values[each.name]
                for each in reads.query_filters
                if values[each.name] is not None
            }
            body = await reads.page(
                values["request"].app.state,
                order=values["order"].value,
                given=given,
                parent_id=self._parent_id(values),
                cursor=values["cursor"],
                limit=values["limit"],
            )
            return Response(body, media_type=JSON_MEDIA_TYPE)

        parameters = [
            *self._parent_parameters(),
            _parameter("request", Request),
            _parameter("limit", Limit, DEFAULT_PAGE_SIZE),
            _parameter("cursor", Cursor, None),
            _parameter("order", self.order, self.order("id")),
            *(_parameter(each.name, each.annotation, None) for each in reads.query_filters),
        ]
        whose = f"{_a(self.parent.noun)}'s {self.plural}" if self.parent else self.plural
        name = f"list_{self.parent.noun}_{self.plural}" if self.parent else f"list_{self.plural}"
        self._add(
            self.collection,
            "GET",
            name,
            parameters,
            run,
            response_model=self.page,
            responses=problem_responses(*common_statuses({404} if self.parent else ())),
            summary=f"List {whose}, one keyset page at a time",
            dependencies=[requires(self.declaration.read_scope)],
        )

    def lookup(self, lookup: Lookup) -> None:
        async def run(values: dict[str, Any]) -> Response:
            request: Request = values["request"]
            found = await self.reads.by_lookup(
                request.app.state, lookup, values[lookup.field], self._parent_id(values)
            )
            return resource_response(found, request)

        parameters = [
            *self._parent_parameters(),
            _parameter(lookup.field, str),
            _parameter("request", Request),
        ]
        ignoring_case = "" if lookup.case is Case.EXACT else " (case-insensitive)"
        self._add(
            self._lookup_path(lookup),
            "GET",
            f"get_{self.noun}_by_{lookup.field}",
            parameters,
            run,
            response_model=self.out,
            responses=one_resource(f"The {self.noun}"),
            summary=f"Get {_a(self.noun)} by {lookup.field}{ignoring_case}",
            dependencies=[requires(self.declaration.read_scope), CONDITIONAL_GET],
        )

    def _lookup_path(self, lookup: Lookup) -> str:
        return f"{self.collection}/by_{lookup.field}/{{{lookup.field}}}"

    def get(self) -> None:
        async def run(values: dict[str, Any]) -> Response:
            request: Request = values["request"]
            found = await self.reads.by_id(request.app.state, values[self.id_param])
            return resource_response(found, request)

        parameters = [
            _parameter(self.id_param, _id_path(self.noun)),
            _parameter("request", Request),
        ]
        self._add(
            self.item_path,
            "GET",
            f"get_{self.noun}",
            parameters,
            run,
            response_model=self.out,
            responses=one_resource(f"The {self.noun}"),
            summary=f"Get {_a(self.noun)} by id",
            dependencies=[requires(self.declaration.read_scope), CONDITIONAL_GET],
        )

    def update(self) -> None:
        examples = dict(self.declaration.update_examples)

        async def run(values: dict[str, Any]) -> Response:
            request: Request = values["request"]
            state = request.app.state
            # Before any work: a missing If-Match is 428 whatever the body costs to prepare.
            expected = expected_versions(
                values["if_match"], required=values["settings"].require_if_match
            )
            columns = await self.change_columns(state, values["body"])
            async with state.statement_pool.connection() as db:
                row = await self._writer(request, db).update(
                    values[self.id_param], columns, expected
                )
            return resource_response(rendered(row), request)

        parameters = [
            _parameter(self.id_param, _id_path(self.noun)),
            _parameter("body", Annotated[self.update_body, Body(openapi_examples=examples)]),
            _parameter("settings", SettingsDep),
            _parameter("request", Request),
            _parameter("if_match", IfMatch, None),
        ]
        self._add(
            self.item_path,
            "PATCH",
            f"update_{self.noun}",
            parameters,
            run,
            response_model=self.out,
            responses={
                **success(status.HTTP_200_OK, f"The changed {self.noun}", ETAG),
                **problem_responses(*common_statuses({400, 404, 409, 412, 413, 415, 428})),
            },
            summary=f"Change {_a(self.noun)}",
            dependencies=[requires(self.declaration.write_scope)],
        )

    def delete(self) -> None:
        conflict = self.declaration.delete_conflict

        async def run(values: dict[str, Any]) -> Response:
            request: Request = values["request"]
            expected = expected_versions(
                values["if_match"], required=values["settings"].require_if_match
            )
            async with request.app.state.statement_pool.connection() as db:
                await self._writer(request, db).delete(values[self.id_param], expected)
            return Response(status_code=status.HTTP_204_NO_CONTENT)

        parameters = [
            _parameter(self.id_param, _id_path(self.noun)),
            _parameter("settings", SettingsDep),
            _parameter("request", Request),
            _parameter("if_match", IfMatch, None),
        ]
        statuses = {400, 404, 412, 428} | ({409} if conflict else set())
        self._add(
            self.item_path,
            "DELETE",
            f"delete_{self.noun}",
            parameters,
            run,
            status_code=status.HTTP_204_NO_CONTENT,
            responses=problem_responses(
                *common_statuses(statuses), descriptions={409: conflict} if conflict else None
            ),
            summary=f"Delete {_a(self.noun)}",
            dependencies=[requires(self.declaration.write_scope)],
        )

    # --- the fast lane -------------------------------------------------------------------------

    def hot_reads(self) -> tuple[HotRead, ...]:
        reads = self.reads

        def plain_id(params: PathParams) -> bool:
            return is_plain_id(params[self.id_param])

        async def by_id(state: State, params: PathParams) -> Any:
            return await reads.by_id(state, int(params[self.id_param]))

        entries = [HotRead(route_of(self.router, self.item_format, "GET"), plain_id, by_id)]
        for lookup in self.declaration.lookups:
            entries.append(self._hot_lookup(lookup))
        return tuple(entries)

    def _hot_lookup(self, lookup: Lookup) -> HotRead:
        def plain(params: PathParams) -> bool:
            return bool(params[lookup.field]) and self._is_plain_parent(params)

        async def read(state: State, params: PathParams) -> Any:
            return await self.reads.by_lookup(
                state, lookup, params[lookup.field], self._parent_id(params)
            )

        return HotRead(route_of(self.router, self._lookup_path(lookup), "GET"), plain, read)

    def hot_page(self) -> HotPage:
        first = self.order("id").value

        async def page(state: State, params: PathParams, limit: int, cursor: str | None) -> bytes:
            return await self.reads.page(
                state,
                order=first,
                given={},
                parent_id=self._parent_id(params),
                cursor=cursor,
                limit=limit,
            )

        route = route_of(self.router, self.collection, "GET")
        return HotPage(route, self._is_plain_parent, page, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)

    def hot_create(self) -> HotCreate:
        async def create(state: State, params: PathParams, body: Any, actor: str) -> Created:
            """The create without an Idempotency-Key: one INSERT, its own transaction."""
            async with state.statement_pool.connection() as db:
                row = await self._insert(state, db, body, self._parent_id(params), actor)
            return Created(rendered(row), self._location(row))

        route = route_of(self.router, self.collection, "POST")
        return HotCreate(route, self._is_plain_parent, self.create_body, create)

    def served(self) -> ServedResource:
        return ServedResource(
            declaration=self.declaration,
            noun=self.noun,
            plural=self.plural,
            collection_path=self.collection,
            item_path=self.item_format,
            parent_noun=self.parent.noun if self.parent else None,
            create_body=self.create_body,
            update_body=self.update_body,
            out=self.out,
            reads=self.reads,
            events=self.events,
        )


def serve(
    declaration: StandardResource,
    *,
    beside: APIRouter | None = None,
    events: tuple[EventSource, ...] = (),
) -> Resource:
    """The resource's routes (create, list, the lookups, get, PATCH, DELETE), the routes of
    `beside` (the feature's own) after them, and the fast lane's entries. `events` are the
    event sources of the tables only the feature's own routes write."""
    serve_table(declaration.table)
    builder = _Builder(declaration, beside)
    builder.create()
    builder.listing()
    for lookup in declaration.lookups:
        builder.lookup(lookup)
    builder.get()
    builder.update()
    builder.delete()
    router = builder.router
    if beside is not None:
        router.routes.extend(beside.routes)
    return Resource(
        router,
        hot_reads=builder.hot_reads(),
        hot_pages=(builder.hot_page(),),
        hot_creates=(builder.hot_create(),),
        standard=builder.served(),
        event_sources=(builder.events, *events),
    )
