"""Prometheus metrics, correct with several worker processes.

With PROMETHEUS_MULTIPROC_DIR set (the `serve` command sets it for its workers), every
process writes its samples to files there and a scrape of any worker sums them all.
"""

import asyncio
import contextlib
import os
import re
from collections.abc import Callable, Mapping

from fastapi import APIRouter, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.multiprocess import MultiProcessCollector

from db_postgres_service.api.scopes import PUBLIC
from db_postgres_service.core import process_metrics  # noqa: F401  # before any metric
from db_postgres_service.core.config import METRICS_DIR_VARIABLE
from db_postgres_service.core.database import StatementPool

REQUESTS = Counter("http_requests_total", "HTTP requests answered.", ["method", "route", "status"])
LATENCY = Histogram(
    "http_request_duration_seconds",
    "Time from request to the end of the response.",
    ["method", "route", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
POOL_CONNECTIONS = Gauge(
    "db_pool_connections",
    "Database connections of the pool by state (in_use, idle, overflow).",
    ["state"],
    multiprocess_mode="livesum",
)
CLIENT_REQUESTS_IN_FLIGHT = Gauge(
    "client_requests_in_flight",
    "Requests of each client running (admitted, not finished), sampled every "
    "CLIENT_SAMPLE_SECONDS.",
    ["client"],
    multiprocess_mode="livesum",
)
CLIENT_REQUESTS_REFUSED = Counter(
    "client_requests_refused_total",
    "Requests refused without running, by client and reason "
    "(over_limit and over_share: 429; at_capacity: 503).",
    ["client", "reason"],
)
DATABASE_ERRORS = Counter(
    "db_errors_total",
    "Database failures by kind (SQLSTATE, or the exception class when there is none).",
    ["kind"],
)

router = APIRouter(tags=["operations"])


class RequestMetrics:
    """The request counter and histogram, with each label combination's child looked up once:
    `labels()` costs more than the increment itself."""

    def __init__(self) -> None:
        self._children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            children = (REQUESTS.labels(*key), LATENCY.labels(*key))
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)


def database_error_kind(error: Exception) -> str:
    state = getattr(error, "sqlstate", None)
    return state if isinstance(state, str) else type(error).__name__


def record_database_error(error: Exception) -> None:
    DATABASE_ERRORS.labels(kind=database_error_kind(error)).inc()


def record_pool(pool: StatementPool) -> None:
    """Note the pool's state; called after requests, when their connections are back. The
    pool never grows past DB_POOL_SIZE: `overflow` stays 0 (a request waits instead)."""
    in_use, idle = pool.usage()
    POOL_CONNECTIONS.labels(state="in_use").set(in_use)
    POOL_CONNECTIONS.labels(state="idle").set(idle)
    POOL_CONNECTIONS.labels(state="overflow").set(0)


_LIVE_GAUGE_FILE = re.compile(r"gauge_live\w+_(\d+)\.db")


def forget_dead_workers() -> None:
    """Drop the live gauges of worker processes that are gone.

    A worker killed outright (the OOM killer, kill -9) never says so, and the server replaces
    it; without this, its last pool gauges would stay in every scrape's sum. Each new worker
    tidies up as it starts.
    """
    folder = os.environ.get(METRICS_DIR_VARIABLE)
    if not folder:
        return
    pids = {
        int(match.group(1))
        for name in os.listdir(folder)
        if (match := _LIVE_GAUGE_FILE.fullmatch(name))
    }
    for pid in pids - {os.getpid()}:
        if not _alive(pid):
            multiprocess.mark_process_dead(pid, folder)  # type: ignore[no-untyped-call]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # Another user's process now has that id: not one of ours, but alive.
    return True


def _registry() -> CollectorRegistry:
    if os.environ.get(METRICS_DIR_VARIABLE):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # untyped upstream
        return registry
    return REGISTRY


@router.get(
    "/metrics",
    summary="Prometheus metrics (no key needed; answers while the database is down)",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
    openapi_extra=PUBLIC,
)
async def metrics() -> Response:
    return Response(generate_latest(_registry()), media_type=CONTENT_TYPE_LATEST)


# The gauge of each client's requests in flight is a sample: written per request, it cost
# 5.7 us (two writes to the multiprocess file), 3 % of a GET by id (bench/README.md).
CLIENT_SAMPLE_SECONDS = 0.5


class InFlightSampler:
    """Writes this worker's running requests per client to `client_requests_in_flight` every
    CLIENT_SAMPLE_SECONDS while the worker runs; a client gone since is written as 0."""

    def __init__(self, running_by_client: Callable[[], Mapping[str, int]]) -> None:
        self._running_by_client = running_by_client
        self._written: set[str] = set()
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            self.sample()
            await asyncio.sleep(CLIENT_SAMPLE_SECONDS)

    def sample(self) -> None:
        running = self._running_by_client()
        for client in self._written - running.keys():
            CLIENT_REQUESTS_IN_FLIGHT.labels(client).set(0)
        for client, count in running.items():
            CLIENT_REQUESTS_IN_FLIGHT.labels(client).set(count)
        self._written = set(running)

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
