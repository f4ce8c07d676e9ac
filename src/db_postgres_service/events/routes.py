"""`GET /api/v1/events`: the change feed, read with a cursor and, when it is caught up, a long
poll that holds neither a database connection nor a place among the worker's running
requests while it waits."""

import asyncio
import contextlib
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from db_postgres_service.api.problems import common_statuses, problem_responses
from db_postgres_service.api.resource import Resource
from db_postgres_service.api.responses import JSON_MEDIA_TYPE
from db_postgres_service.api.routing import StrictRoute
from db_postgres_service.api.scopes import requires
from db_postgres_service.core.errors import ValidationFailed
from db_postgres_service.core.outbox import CHANGE_KINDS, Outbox
from db_postgres_service.events.cloudevents import event_json, position_of
from db_postgres_service.events.position import Position
from db_postgres_service.events.repository import FeedRepository
from db_postgres_service.events.schemas import EventPage
from db_postgres_service.events.watcher import FeedWatcher

EVENTS_READ = "events:read"
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MAX_WAIT_SECONDS = 30

router = APIRouter(route_class=StrictRoute)


def _types(outbox: Outbox, given: str | None) -> list[str] | None:
    if given is None:
        return None
    known = {source.type(kind) for source in outbox.sources for kind in CHANGE_KINDS}
    types = [name.strip() for name in given.split(",")]
    unknown = [name for name in types if name not in known]
    if unknown:
        raise ValidationFailed(
            [{"loc": ["query", "types"], "msg": f"unknown event type {unknown[0]!r}"}],
            f"`types` lists event types separated by commas: {', '.join(sorted(known))}.",
        )
    return types


def _page(items: list[bytes], next_cursor: Position) -> Response:
    body = b'{"items":[' + b",".join(items) + b'],"next_cursor":"'
    return Response(body + next_cursor.cursor.encode() + b'"}', media_type=JSON_MEDIA_TYPE)


@router.get(
    "/api/v1/events",
    response_model=EventPage,
    responses=problem_responses(
        *common_statuses({410}),
        descriptions={410: "The cursor is older than the feed's retention"},
    ),
    summary="Read the change feed: every committed change, once, after a cursor",
    tags=["events"],
    dependencies=[requires(EVENTS_READ)],
)
async def list_events(
    request: Request,
    after: Annotated[
        str | None,
        Query(
            max_length=40,
            description="A `next_cursor`, or an event's `cursor`; absent: from the oldest kept "
            "event.",
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    types: Annotated[
        str | None,
        Query(max_length=2000, description="Only events of these types, comma-separated."),
    ] = None,
    wait: Annotated[
        float,
        Query(
            ge=0,
            le=MAX_WAIT_SECONDS,
            description="Seconds to hold the request while no newer event exists.",
        ),
    ] = 0,
) -> Response:
    state = request.app.state
    wanted = _types(state.outbox, types)
    given = None if after is None else Position.parse(after)
    pool = state.statement_pool
    watcher: FeedWatcher = state.feed_watcher
    deadline = asyncio.get_running_loop().time() + wait
    known = watcher.newest
    async with pool.connection() as connection:
        feed = FeedRepository(connection)
        start = await feed.start(given)
        rows = await feed.after(start, limit, wanted)
    seen = max(start, known) if known is not None else start
    while not rows:
        remaining = deadline - asyncio.get_running_loop().time()
        if remaining <= 0:
            break
        async with _stepped_aside(request):
            if not await watcher.wait_past(seen, remaining):
                break
        known = watcher.newest
        async with pool.connection() as connection:
            rows = await FeedRepository(connection).after(start, limit, wanted)
        if known is not None:
            # Nothing up to what was visible before this read is wanted: wait for newer.
            seen = max(seen, known)
    next_cursor = position_of(rows[-1]) if rows else start
    return _page([event_json(row) for row in rows], next_cursor)


def _stepped_aside(request: Request) -> "contextlib.AbstractAsyncContextManager[None]":
    admission = getattr(request.state, "admission", None)
    return contextlib.nullcontext() if admission is None else admission.stepped_aside()


EVENTS = Resource(router)
