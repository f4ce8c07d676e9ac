"""The application factory: everything is built here, at startup, never at import time."""

import logging
import os
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from importlib import metadata
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.types import ASGIApp

from db_postgres_service.api import health, metrics
from db_postgres_service.api.admission import AdmissionMiddleware
from db_postgres_service.api.authentication import AuthenticationMiddleware, ClientAuthenticator
from db_postgres_service.api.docs import install_docs
from db_postgres_service.api.fair_shares import FairShares
from db_postgres_service.api.hot_paths import HotCreates, HotPages, HotReads
from db_postgres_service.api.metrics import InFlightSampler, forget_dead_workers
from db_postgres_service.api.middleware import RequestContextMiddleware
from db_postgres_service.api.observability import ObservabilityMiddleware
from db_postgres_service.api.openapi import install_openapi
from db_postgres_service.api.problems import install_problem_handlers
from db_postgres_service.api.resource import Resource
from db_postgres_service.api.retries import RetryCollisions
from db_postgres_service.api.route_table import RouteTable
from db_postgres_service.core.config import Settings
from db_postgres_service.core.database import (
    StatementPool,
    open_driver_pool,
)
from db_postgres_service.core.logging import configure_logging, stop_logging
from db_postgres_service.core.migrations import head_revision
from db_postgres_service.core.outbox import Outbox
from db_postgres_service.core.runtime import settle_garbage_collector, stop_with_server
from db_postgres_service.core.security import PasswordHasher
from db_postgres_service.events.retention import RetentionSweeper
from db_postgres_service.events.watcher import FeedWatcher
from db_postgres_service.resources import RESOURCES

logger = logging.getLogger("db_postgres_service")
# Answered outside admission control: an orchestrator must see a saturated worker as alive
# and a scrape must show why it is saturated.
PROBE_PATHS = ("/health", "/health/ready", "/metrics")
# The readiness probe's own connection, beside the pools that requests share.
PROBE_CONNECTIONS = 1


class DataService(FastAPI):
    """FastAPI with the service's own layers outermost, around FastAPI's whole stack.

    Request context, observability and authentication are plain ASGI and wrap FastAPI's
    own middleware (rather than sit inside it, as `add_middleware` would put them), so
    that the hot paths, answered right after authentication, skip all of FastAPI's
    layers while every other request still passes through them (bench/README.md).
    """

    def __init__(
        self,
        *,
        settings: Settings,
        resources: Sequence[Resource],
        fair_shares: FairShares,
        authenticator: ClientAuthenticator,
        **options: Any,
    ) -> None:
        self.settings = settings
        self.resources = resources
        self.fair_shares = fair_shares
        self.authenticator = authenticator
        super().__init__(**options)

    def build_middleware_stack(self) -> ASGIApp:
        settings = self.settings
        # Built with the stack, on the first request or lifespan event: every route is there.
        routes = RouteTable(self.routes)
        app: ASGIApp = super().build_middleware_stack()
        if settings.fast_lane:
            resources = self.resources
            creates = [create for resource in resources for create in resource.hot_creates]
            app = HotCreates(app, creates, max_body_bytes=settings.max_body_bytes)
            app = HotPages(app, [page for resource in resources for page in resource.hot_pages])
            app = HotReads(app, [read for resource in resources for read in resource.hot_reads])
        app = AuthenticationMiddleware(app, routes, self.authenticator)
        # Outside authentication, whose key lookup is work too; inside observability, so that
        # a refused request is counted and logged like any other.
        app = AdmissionMiddleware(
            app,
            shares=self.fair_shares,
            authenticator=self.authenticator,
            queue_timeout=settings.request_queue_timeout,
            exempt_paths=PROBE_PATHS,
            workers=settings.web_concurrency,
        )
        app = ObservabilityMiddleware(app, routes)
        return RequestContextMiddleware(app, max_body_bytes=settings.max_body_bytes)


def _operation_id(route: APIRoute) -> str:
    return route.name


def create_app(
    settings: Settings | None = None, resources: Sequence[Resource] = RESOURCES
) -> FastAPI:
    """The service, serving `resources` (resources.py: all of them)."""
    settings = settings or Settings()
    outbox = Outbox(source for resource in resources for source in resource.event_sources)
    fair_shares = FairShares(settings.worker_concurrency, settings.request_queue_length)
    authenticator = ClientAuthenticator()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(settings.log_level, settings.log_format)
        hasher = PasswordHasher(threads=settings.password_hash_threads)
        app.state.settings = settings
        app.state.statement_pool = await StatementPool.open(settings)
        app.state.probe_pool = await open_driver_pool(settings, PROBE_CONNECTIONS)
        app.state.password_hasher = hasher
        authenticator.use(app.state.statement_pool)
        app.state.schema_head = head_revision()
        app.state.outbox = outbox
        app.state.feed_watcher = FeedWatcher(
            app.state.statement_pool, settings.event_poll_interval_ms / 1000
        )
        sweeper = RetentionSweeper(app.state.statement_pool, settings)
        in_flight = InFlightSampler(fair_shares.running_by_client)
        stop_with_server()
        forget_dead_workers()
        settle_garbage_collector()
        logger.info("worker started", extra={"event": "startup", "pid": os.getpid()})
        try:
            yield
        finally:
            await sweeper.close()
            await in_flight.close()
            await app.state.feed_watcher.close()
            hasher.close()
            await app.state.statement_pool.close()
            await app.state.probe_pool.close()
            logger.info("worker stopped", extra={"event": "shutdown", "pid": os.getpid()})
            stop_logging()

    app = DataService(
        fair_shares=fair_shares,
        authenticator=authenticator,
        title="db-postgres-service",
        summary="The one service through which business services read and write PostgreSQL data.",
        # The document describes this very package, so it carries its version.
        version=metadata.version("db-postgres-service"),
        lifespan=lifespan,
        redirect_slashes=False,
        # Served from local assets by install_docs, not from FastAPI's CDN links.
        docs_url=None,
        redoc_url=None,
        # The service's own metrics and access log are its observability. FastAPI's
        # OpenTelemetry layer, on by default since 0.165, looked its providers up on every
        # request: 5 % of a worker's CPU with none configured (bench/README.md).
        telemetry={"tracing": False, "metrics": False, "logs": False},
        # Operation ids are the endpoints' names (`get_user_by_username`), which client
        # generators turn into method names; FastAPI's default appends the path and method.
        generate_unique_id_function=_operation_id,
        settings=settings,
        resources=resources,
    )
    install_problem_handlers(app)
    # Inside FastAPI's last-resort layer, outside its exception handlers (api/retries.py).
    app.add_middleware(RetryCollisions)
    install_openapi(app)
    install_docs(app, openapi_url="/openapi.json")
    app.include_router(health.router)
    app.include_router(metrics.router)
    for resource in resources:
        # Included as they are, each with its full prefix, so that a matched route's `path`
        # is the whole template (`/api/v1/users/{user_id}`) for logs and metrics.
        app.include_router(resource.router)
    # A route that declares no scope must stop the start, not serve openly.
    RouteTable(app.routes)
    return app
