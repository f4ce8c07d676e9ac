"""The hottest requests served as plain ASGI in front of FastAPI.

FastAPI's routing, dependency solving and exception layers cost more than a single-row read
or insert itself (bench/README.md). So a request takes a hot path only in its plainest form
(a well-formed If-None-Match included), checked here; everything else, every malformed variant
included, goes on to the FastAPI route of the same path, which stays the endpoint's documented
definition and produces its errors.
Both paths call the same function and render the same representation. Which route a request
is for was matched once, by the authentication layer (api/route_table.py).
"""

import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi import APIRouter
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from starlette.datastructures import State
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from db_postgres_service.api.conditional import is_well_formed
from db_postgres_service.api.problems import database_problem, send_problem
from db_postgres_service.api.responses import JSON_MEDIA_TYPE, Created, Rendered, representation
from db_postgres_service.api.retries import with_retries
from db_postgres_service.api.routing import is_json_media_type
from db_postgres_service.core.db_errors import DATABASE_FAILURES
from db_postgres_service.core.errors import ServiceError

# The longest decimal a bigint id can have; longer ones go to FastAPI (and are 404 there).
_MAX_ID_DIGITS = 19
# Larger bodies are rare for a single resource and go to FastAPI, which enforces the real limit.
MAX_HOT_BODY_BYTES = 8192
_JSON = JSON_MEDIA_TYPE.encode()
Result = TypeVar("Result")


def _is_plain_request(scope: Scope, method: str, *, query: bool = False) -> bool:
    return (
        scope["type"] == "http"
        and scope["method"] == method
        and (query or not scope["query_string"])
        and not scope.get("root_path")
    )


async def _attempt(effect: Awaitable[Result], scope: Scope, send: Send) -> Result | None:
    """The effect's result, or None once its failure has been answered with a problem."""
    try:
        return await effect
    except ServiceError as error:
        await send_problem(send, error, scope["state"]["request_id"])
    except DATABASE_FAILURES as error:
        problem = database_problem(error)
        if problem is None:
            raise
        await send_problem(send, problem, scope["state"]["request_id"])
    return None


async def _send_json(send: Send, status: int, body: bytes, *headers: tuple[bytes, bytes]) -> None:
    content = [(b"content-type", _JSON), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": [*headers, *content]})
    await send({"type": "http.response.body", "body": body})


# A route's path parameters, as the path's segments hold them (before FastAPI converts them).
PathParams = Mapping[str, str]


@dataclass(frozen=True, slots=True)
class HotRead:
    """A FastAPI GET route of one resource, read in front of FastAPI when its path parameters
    are in a form `is_plain` says FastAPI would read back unchanged."""

    route: APIRoute
    is_plain: Callable[[PathParams], bool]
    read: Callable[[State, PathParams], Awaitable[Rendered]]


def is_plain_id(segment: str) -> bool:
    """Digits exactly as FastAPI would read them back: no sign, no leading zero, no spaces."""
    return (
        segment.isascii()
        and segment.isdigit()
        and segment[0] != "0"
        and len(segment) <= _MAX_ID_DIGITS
    )


def route_of(router: APIRouter, path: str, method: str) -> APIRoute:
    """The route of `router` at `path` (as declared, with the router's prefix) for `method`."""
    return next(
        route
        for route in router.routes
        if isinstance(route, APIRoute) and route.path_format == path and route.methods == {method}
    )


def _if_none_match(scope: Scope) -> str | None:
    value: bytes
    for name, value in scope["headers"]:
        if name == b"if-none-match":
            return value.decode("latin-1")
    return None


class HotReads:
    """GET of one resource: no query string, path parameters that `is_plain` accepts."""

    def __init__(self, app: ASGIApp, reads: Sequence[HotRead]) -> None:
        self.app = app
        # By identity: routes compare by value and are not hashable.
        self.reads = {id(read.route): read for read in reads}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        hot = self.reads.get(id(scope.get("route")))
        if hot is not None and _is_plain_request(scope, "GET"):
            params = scope["path_params"]
            if_none_match = _if_none_match(scope)
            if hot.is_plain(params) and is_well_formed(if_none_match):
                await self._serve(hot, params, if_none_match, scope, send)
                return
        await self.app(scope, receive, send)

    async def _serve(
        self, hot: HotRead, params: PathParams, if_none_match: str | None, scope: Scope, send: Send
    ) -> None:
        state = scope["app"].state
        # A read takes no locks, so it never collides with another transaction.
        found = await _attempt(hot.read(state, params), scope, send)
        if found is None:
            return
        current = representation(found, if_none_match)
        if current.body is None:
            headers = [(b"etag", current.etag.encode())]
            await send({"type": "http.response.start", "status": 304, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return
        await _send_json(send, 200, current.body, (b"etag", current.etag.encode()))


@dataclass(frozen=True, slots=True)
class HotCreate:
    """A FastAPI POST route that creates one resource from a body `body` accepts, under path
    parameters `is_plain` accepts (a nested resource's parent), on behalf of a client (its
    name, for the event)."""

    route: APIRoute
    is_plain: Callable[[PathParams], bool]
    body: type[BaseModel]
    create: Callable[[State, PathParams, Any, str], Awaitable[Created]]


def _plain_body_length(scope: Scope, limit: int) -> int | None:
    """The declared length of a JSON body of at most `limit` bytes sent without
    Idempotency-Key, else None."""
    length = None
    json = False
    value: bytes
    for name, value in scope["headers"]:
        if name == b"content-length":
            length = int(value) if value.isdigit() else None
        elif name == b"content-type":
            json = is_json_media_type(value.decode("latin-1"))
        elif name in (b"idempotency-key", b"transfer-encoding"):
            # A stored response needs the request's transaction; a chunked body, FastAPI.
            return None
    return length if json and length is not None and length <= limit else None


async def _read_body(receive: Receive) -> bytes | None:
    """The whole body, or None when the client went away first."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replaying(body: bytes, receive: Receive) -> Receive:
    """A receive that hands the already-read body over, then the connection's own events."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


class HotCreates:
    """POST of one resource: a JSON body its model accepts, of at most MAX_HOT_BODY_BYTES and
    the service's body limit (a larger body goes to FastAPI, which refuses it with 413)."""

    def __init__(self, app: ASGIApp, creates: Sequence[HotCreate], *, max_body_bytes: int) -> None:
        self.app = app
        self.creates = {id(create.route): create for create in creates}
        self.body_limit = min(MAX_HOT_BODY_BYTES, max_body_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        hot = self.creates.get(id(scope.get("route")))
        if (
            hot is None
            or not _is_plain_request(scope, "POST")
            or not hot.is_plain(scope["path_params"])
            or _plain_body_length(scope, self.body_limit) is None
        ):
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        if body is None:
            return
        try:
            fields = hot.body.model_validate_json(body)
        except ValidationError:
            await self.app(scope, _replaying(body, receive), send)
            return
        state = scope["app"].state
        # Run again while its INSERT collides with another transaction (api/retries.py).
        params = scope["path_params"]
        client = scope["state"]["client"]
        created = await _attempt(
            with_retries(lambda: hot.create(state, params, fields, client)), scope, send
        )
        if created is None:
            return
        etag = representation(created.rendered, None).etag.encode()
        location = created.location.encode()
        await _send_json(send, 201, created.rendered.body, (b"etag", etag), (b"location", location))


@dataclass(frozen=True, slots=True)
class HotPage:
    """A FastAPI GET route that lists a resource; plain when it asks only for `limit` and
    `cursor` (the default order, no filters) under path parameters `is_plain` accepts."""

    route: APIRoute
    is_plain: Callable[[PathParams], bool]
    page: Callable[[State, PathParams, int, str | None], Awaitable[bytes]]
    default_limit: int
    max_limit: int


_PLAIN_LIMIT = re.compile(rb"[1-9][0-9]{0,2}")
# A cursor as this service writes it (two base64url parts): nothing to percent-decode.
_PLAIN_CURSOR = re.compile(rb"[A-Za-z0-9_-]{1,2000}\.[A-Za-z0-9_-]{1,40}")


def _plain_page_query(query: bytes, page: HotPage) -> tuple[int, str | None] | None:
    """`limit` and `cursor` from a query string holding nothing else, each at most once and in
    a form that needs no decoding; None for any other query string."""
    limit, cursor = None, None
    for pair in query.split(b"&") if query else ():
        name, _, value = pair.partition(b"=")
        if name == b"limit" and limit is None and _PLAIN_LIMIT.fullmatch(value):
            limit = int(value)
        elif name == b"cursor" and cursor is None and _PLAIN_CURSOR.fullmatch(value):
            cursor = value.decode("ascii")
        else:
            return None
    if limit is not None and limit > page.max_limit:
        return None
    return (limit or page.default_limit), cursor


class HotPages:
    """GET of a page in the default order, without filters."""

    def __init__(self, app: ASGIApp, pages: Sequence[HotPage]) -> None:
        self.app = app
        self.pages = {id(page.route): page for page in pages}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        hot = self.pages.get(id(scope.get("route")))
        if (
            hot is not None
            and _is_plain_request(scope, "GET", query=True)
            and hot.is_plain(scope["path_params"])
        ):
            plain = _plain_page_query(scope["query_string"], hot)
            if plain is not None:
                state = scope["app"].state
                body = await _attempt(hot.page(state, scope["path_params"], *plain), scope, send)
                if body is not None:
                    await _send_json(send, 200, body)
                return
        await self.app(scope, receive, send)
