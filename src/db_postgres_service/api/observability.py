"""One access-log line and the request metrics for every HTTP request, as pure ASGI middleware."""

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from db_postgres_service.api.metrics import RequestMetrics, record_pool
from db_postgres_service.api.route_table import RouteTable
from db_postgres_service.core.logging import access_log

UNMATCHED_ROUTE = "unmatched"
CLIENT_CLOSED_REQUEST = 499
# The pool gauges are a sample, not a count: refreshing them once in a while is as truthful
# as after every request, at a fraction of the cost under load.
POOL_SAMPLE_SECONDS = 0.5


class ObservabilityMiddleware:
    """Labels by the matched route's template, never the raw path: ids in labels would explode
    the series. A request answered before any layer matched its route (503 or 499 from
    admission) is matched here, once it is over."""

    def __init__(self, app: ASGIApp, routes: RouteTable) -> None:
        self.app = app
        self.routes = routes
        self.metrics = RequestMetrics()
        self.pool_sampled_at = 0.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        # Left as it is if the application raises before answering.
        status = 500
        answered = False

        async def send_and_note(message: Message) -> None:
            nonlocal status, answered
            if message["type"] == "http.response.start":
                status = message["status"]
                answered = True
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
            if not answered:
                # Returned without answering: the request was dropped because its caller left.
                status = CLIENT_CLOSED_REQUEST
        finally:
            finished = time.perf_counter()
            elapsed = finished - started
            route = self.routes.template(scope) or UNMATCHED_ROUTE
            method = scope["method"]
            self.metrics.observe(method, route, status, elapsed)
            if finished - self.pool_sampled_at >= POOL_SAMPLE_SECONDS:
                self.pool_sampled_at = finished
                record_pool(scope["app"].state.statement_pool)
            state = scope["state"]
            access_log.write(
                request_id=state.get("request_id"),
                client=state.get("client"),
                method=method,
                route=route,
                status=status,
                duration_ms=round(elapsed * 1000, 2),
            )
