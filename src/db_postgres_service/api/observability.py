"""One access-log line and the request metrics for every HTTP request, as pure ASGI middleware."""

import logging
import time

from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from db_postgres_service.api.metrics import LATENCY, REQUESTS, record_pool

access_log = logging.getLogger("db_postgres_service.access")
UNMATCHED_ROUTE = "unmatched"


def route_template(scope: Scope) -> str:
    """The matched route's template, never the raw path: ids in labels would explode the series.

    A request answered before routing (e.g. 401 from authentication) is matched here.
    """
    route = scope.get("route")
    if route is None:
        route = next(
            (r for r in scope["app"].router.routes if r.matches(scope)[0] is not Match.NONE), None
        )
    return getattr(route, "path", UNMATCHED_ROUTE)


class ObservabilityMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            elapsed = time.perf_counter() - started
            route = route_template(scope)
            method = scope["method"]
            REQUESTS.labels(method, route, status).inc()
            LATENCY.labels(method, route, status).observe(elapsed)
            record_pool(scope["app"].state.engine)
            if access_log.isEnabledFor(logging.INFO):
                state = scope.get("state", {})
                access_log.info(
                    "%s %s %s",
                    method,
                    route,
                    status,
                    extra={
                        "request_id": state.get("request_id"),
                        "client": state.get("client"),
                        "method": method,
                        "route": route,
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 2),
                    },
                )
