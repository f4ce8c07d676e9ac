"""A long poll costs nothing while it waits: no database connection, and no place among the
requests a worker runs at once."""

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from db_postgres_service.main import create_app

from .conftest import make_settings
from .events import EVENTS, feed
from .helpers import Database, create, http_client

WAITERS = 200


@pytest.fixture
async def narrow_app(database_url: str) -> AsyncIterator[FastAPI]:
    """A worker that runs two requests at once and lets none wait for a turn."""
    settings = make_settings(
        database_url, requests_per_worker=2, request_queue_length=0, db_pool_size=2
    )
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


async def test_waiting_long_polls_hold_no_database_connection(
    app: FastAPI, client: httpx.AsyncClient, db: Database
) -> None:
    cursor = (await feed(client))["next_cursor"]
    waiting = [
        asyncio.create_task(client.get(EVENTS, params={"after": cursor, "wait": 5}))
        for _ in range(WAITERS)
    ]
    await asyncio.sleep(1)

    in_use, _ = app.state.statement_pool.usage()
    busy = await db.scalar(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        " AND state <> 'idle' AND pid <> pg_backend_pid()"
    )
    user = await create(client, name="alice")
    answered = await asyncio.gather(*waiting)

    assert (in_use, busy) == (0, 0)
    assert {len(response.json()["items"]) for response in answered} == {1}
    assert {response.json()["items"][0]["subject"] for response in answered} == {
        f"users/{user['id']}"
    }


async def test_waiting_long_polls_take_no_place_from_other_requests(
    narrow_app: FastAPI,
) -> None:
    transport = httpx.ASGITransport(app=narrow_app)
    async with http_client(transport) as client:
        cursor = (await feed(client))["next_cursor"]
        waiting = []
        for _ in range(20):
            waiting.append(
                asyncio.create_task(client.get(EVENTS, params={"after": cursor, "wait": 3}))
            )
            # One at a time: with no queue, two arriving together would leave a third out.
            await asyncio.sleep(0.05)

        response = await client.get("/api/v1/users")

        assert response.status_code == 200
        assert {answer.status_code for answer in await asyncio.gather(*waiting)} == {200}
