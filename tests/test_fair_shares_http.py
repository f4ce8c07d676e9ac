"""One caller cannot take the door from the others: while one client floods a saturated worker,
its requests over its share are refused with 429 and another client's are all served."""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx
from fastapi import FastAPI

from db_postgres_service.clients import create_client
from db_postgres_service.main import create_app

from .conftest import ThrowAwayDatabases, make_settings
from .helpers import TEST_API_KEY, sample

# A worker that runs two requests at once and lets eight wait: thirty looping callers of one
# client saturate it many times over.
SATURABLE = {"requests_per_worker": 2, "request_queue_length": 8}
FLOOD_CALLERS = 30
QUIET_CALLERS = 2
SECONDS = 1.5


@dataclass
class Answers:
    statuses: list[int] = field(default_factory=list)
    refusals: list[httpx.Response] = field(default_factory=list)


@asynccontextmanager
async def saturable_app(databases: ThrowAwayDatabases) -> AsyncIterator[tuple[FastAPI, str]]:
    database_url = await databases.acreate()
    app = create_app(make_settings(database_url, **SATURABLE))
    async with app.router.lifespan_context(app):
        yield app, database_url


@dataclass
class Caller:
    name: str
    key: str


async def new_caller(database_url: str, prefix: str) -> Caller:
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    return Caller(name, await create_client(database_url, name, ["users:read"]))


async def user_id(http: httpx.AsyncClient) -> int:
    created = await http.post(
        "/api/v1/users",
        json={"email": "alice@example.com", "username": "alice", "password": "12345678"},
        headers={"Authorization": f"Bearer {TEST_API_KEY}"},
    )
    assert created.status_code == 201, created.text
    found: int = created.json()["id"]
    return found


async def keep_reading(
    http: httpx.AsyncClient, key: str, path: str, until: float, answers: Answers
) -> None:
    headers = {"Authorization": f"Bearer {key}"}
    while time.monotonic() < until:
        response = await http.get(path, headers=headers)
        answers.statuses.append(response.status_code)
        if response.status_code != 200:
            answers.refusals.append(response)
        # A refusal in process comes back without a pause; a caller across a network waits
        # for it, and the other tasks of this loop (the service's among them) run meanwhile.
        await asyncio.sleep(0)


@dataclass
class Flood:
    flooding: Caller
    quiet: Caller
    flood: Answers
    beside: Answers
    metrics: str


async def flood_beside_quiet(app: FastAPI, database_url: str) -> Flood:
    """FLOOD_CALLERS of one client and QUIET_CALLERS of another read for SECONDS."""
    flooding, calm = (
        await new_caller(database_url, "flood"),
        await new_caller(database_url, "quiet"),
    )
    flood, quiet = Answers(), Answers()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        path = f"/api/v1/users/{await user_id(http)}"
        until = time.monotonic() + SECONDS
        await asyncio.gather(
            *(keep_reading(http, flooding.key, path, until, flood) for _ in range(FLOOD_CALLERS)),
            *(keep_reading(http, calm.key, path, until, quiet) for _ in range(QUIET_CALLERS)),
        )
        metrics = (await http.get("/metrics")).text
    return Flood(flooding, calm, flood, quiet, metrics)


async def test_the_client_over_its_share_gets_429s_and_the_client_within_it_none(
    databases: ThrowAwayDatabases,
) -> None:
    async with saturable_app(databases) as (app, database_url):
        run = await flood_beside_quiet(app, database_url)

    assert run.beside.statuses
    assert set(run.beside.statuses) == {200}
    assert set(run.flood.statuses) <= {200, 429, 503}
    assert 429 in run.flood.statuses
    assert 200 in run.flood.statuses


async def test_a_429_says_the_client_is_over_its_share_and_when_to_retry(
    databases: ThrowAwayDatabases,
) -> None:
    async with saturable_app(databases) as (app, database_url):
        run = await flood_beside_quiet(app, database_url)

    refusal = next(response for response in run.flood.refusals if response.status_code == 429)
    problem = refusal.json()
    assert refusal.headers["content-type"] == "application/problem+json"
    assert refusal.headers["retry-after"] == "1"
    assert problem["type"] == "https://db-postgres-service/problems/too-many-requests"
    assert problem["title"] == "Too many requests"
    assert problem["status"] == 429
    assert problem["detail"].startswith("Over its fair share: the service is saturated and ")
    assert problem["detail"].endswith(
        "holds at least its share of it while other clients wait; the request was not executed."
    )
    assert problem["request_id"] == refusal.headers["x-request-id"]


async def test_metrics_count_refusals_by_client_and_reason(
    databases: ThrowAwayDatabases,
) -> None:
    async with saturable_app(databases) as (app, database_url):
        run = await flood_beside_quiet(app, database_url)

    refused = {
        reason: sample(
            run.metrics, "client_requests_refused_total", client=run.flooding.name, reason=reason
        )
        for reason in ("over_share", "at_capacity", "over_limit")
    }
    assert refused["over_share"] == run.flood.statuses.count(429) > 0
    assert refused["at_capacity"] == run.flood.statuses.count(503)
    assert refused["over_limit"] == 0
    assert f'client="{run.quiet.name}"' not in "\n".join(
        line for line in run.metrics.splitlines() if line.startswith("client_requests_refused")
    )
