"""Single-user reads served as plain ASGI in front of FastAPI: the service's hottest requests.

FastAPI's routing, dependency solving and exception layers cost more than the read itself
(bench/README.md). So a read takes this path only in its plainest form: GET, no query
string, a path segment that needs no validation beyond `is_plain`. Everything else, every
malformed variant included, goes on to the FastAPI route of the same path, which stays the
endpoint's documented definition and produces its errors. Both read through the same
function and render the same representation.
"""

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from fastapi.routing import APIRoute
from starlette.datastructures import State
from starlette.types import ASGIApp, Receive, Scope, Send

from db_postgres_service.api.problems import database_problem, send_problem
from db_postgres_service.api.responses import JSON_MEDIA_TYPE, User, representation
from db_postgres_service.core.db_errors import DATABASE_FAILURES
from db_postgres_service.core.errors import ServiceError

_JSON = JSON_MEDIA_TYPE.encode()


@dataclass(frozen=True, slots=True)
class HotRead:
    """A FastAPI route whose one path parameter ends its path, read without FastAPI."""

    route: APIRoute
    is_plain: Callable[[str], bool]
    read: Callable[[State, str], Awaitable[User]]

    @property
    def prefix(self) -> str:
        return self.route.path.partition("{")[0]


def _if_none_match(scope: Scope) -> str | None:
    value: bytes
    for name, value in scope["headers"]:
        if name == b"if-none-match":
            return value.decode("latin-1")
    return None


class HotReads:
    def __init__(self, app: ASGIApp, reads: Sequence[HotRead]) -> None:
        self.app = app
        self.reads = [(read.prefix, read) for read in reads]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] == "GET"
            and not scope["query_string"]
            and not scope.get("root_path")
        ):
            path: str = scope["path"]
            for prefix, hot in self.reads:
                if path.startswith(prefix):
                    segment = path[len(prefix) :]
                    if "/" not in segment and hot.is_plain(segment):
                        await self._serve(hot, segment, scope, send)
                        return
                    break
        await self.app(scope, receive, send)

    async def _serve(self, hot: HotRead, segment: str, scope: Scope, send: Send) -> None:
        # As FastAPI does, so that metrics and the access log name the route's template.
        scope["route"] = hot.route
        request_id: str = scope["state"]["request_id"]
        try:
            user = await hot.read(scope["app"].state, segment)
        except ServiceError as error:
            await send_problem(send, error, request_id)
            return
        except DATABASE_FAILURES as error:
            problem = database_problem(error)
            if problem is None:
                raise
            await send_problem(send, problem, request_id)
            return
        current = representation(user, _if_none_match(scope))
        headers = [(b"etag", current.etag.encode())]
        if current.body is None:
            await send({"type": "http.response.start", "status": 304, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return
        headers.append((b"content-type", _JSON))
        headers.append((b"content-length", str(len(current.body)).encode()))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": current.body})
