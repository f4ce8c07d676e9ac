"""`GET /api/v1/events` as CONTRACT.md "The change feed" words it: cursors, filters, the long
poll, retention and its 410, strict parameters."""

import asyncio
import time

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from db_postgres_service.events.retention import sweep

from .events import EVENTS, changes, events, feed
from .helpers import Database, assert_problem, asyncpg_dsn, create

USERS = "/api/v1/users"


async def test_an_empty_feed_is_an_empty_page_with_a_cursor(client: httpx.AsyncClient) -> None:
    page = await feed(client)

    assert page["items"] == []
    assert isinstance(page["next_cursor"], str)


async def test_next_cursor_goes_on_right_after_the_page(client: httpx.AsyncClient) -> None:
    for name in ("alice", "bob", "carol"):
        await create(client, name=name)

    first = await feed(client, limit=2)
    second = await feed(client, limit=2, after=first["next_cursor"])
    third = await feed(client, limit=2, after=second["next_cursor"])

    names = [event["data"]["username"] for event in first["items"] + second["items"]]
    assert names == ["alice", "bob", "carol"]
    assert third["items"] == []
    assert third["next_cursor"] == second["next_cursor"]


async def test_an_events_cursor_resumes_right_after_that_event(
    client: httpx.AsyncClient,
) -> None:
    for name in ("alice", "bob", "carol"):
        await create(client, name=name)
    everything = (await feed(client))["items"]

    resumed = await feed(client, after=everything[0]["cursor"])

    assert resumed["items"] == everything[1:]


async def test_types_selects_events_of_those_types_only(client: httpx.AsyncClient) -> None:
    user = await create(client, name="alice")
    await client.patch(f"{USERS}/{user['id']}", json={"username": "alicia"})
    await client.post("/api/v1/organizations", json={"slug": "acme", "name": "Acme"})

    found = await events(client, types="user.updated,organization.created")

    assert [event["type"] for event in found] == ["user.updated", "organization.created"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
        ({"wait": 31}, "wait"),
        ({"wait": -1}, "wait"),
        ({"after": "not-a-cursor"}, "after"),
        ({"after": "99999999999999999999-1"}, "after"),
        ({"types": "user.renamed"}, "types"),
        ({"since": "yesterday"}, "since"),
    ],
)
async def test_a_bad_parameter_is_422_naming_it(
    client: httpx.AsyncClient, params: dict[str, object], field: str
) -> None:
    response = await client.get(EVENTS, params=params)

    body = assert_problem(response, 422, "validation-failed")
    assert [error["loc"][-1] for error in body["errors"]] == [field]


async def test_the_feed_needs_the_events_read_scope(app: FastAPI) -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as anonymous:
        response = await anonymous.get(EVENTS)

    assert_problem(response, 401, "unauthorized")


@pytest.mark.writes_around_the_service
async def test_a_cursor_older_than_the_retention_is_410(
    app: FastAPI, client: httpx.AsyncClient, db: Database
) -> None:
    for name in ("alice", "bob"):
        await create(client, name=name)
    old_cursor = (await feed(client, limit=1))["next_cursor"]
    await _age_every_event(app, days=8)

    swept = await sweep(app.state.statement_pool, retention_days=7)

    assert swept == 2
    assert await db.scalar("SELECT count(*) FROM events") == 0
    assert_problem(await client.get(EVENTS, params={"after": old_cursor}), 410, "gone")


@pytest.mark.writes_around_the_service
async def test_retention_keeps_younger_events_and_their_cursors(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await create(client, name="alice")
    await _age_every_event(app, days=8)
    await create(client, name="bob")
    alice_cursor = (await feed(client, limit=1))["next_cursor"]

    await sweep(app.state.statement_pool, retention_days=7)

    page = await feed(client, after=alice_cursor)
    assert [event["data"]["username"] for event in page["items"]] == ["bob"]
    assert [event["data"]["username"] for event in await events(client)] == ["bob"]


async def test_a_long_poll_answers_as_soon_as_an_event_commits(
    client: httpx.AsyncClient,
) -> None:
    cursor = (await feed(client))["next_cursor"]
    started = time.monotonic()
    waiting = asyncio.create_task(client.get(EVENTS, params={"after": cursor, "wait": 10}))
    await asyncio.sleep(0.3)
    user = await create(client, name="alice")

    response = await waiting

    assert response.status_code == 200
    assert changes(response.json()["items"]) == [("user.created", f"users/{user['id']}")]
    assert time.monotonic() - started < 5


async def test_a_long_poll_with_nothing_new_ends_empty_with_the_given_cursor(
    client: httpx.AsyncClient,
) -> None:
    await create(client, name="alice")
    cursor = (await feed(client))["next_cursor"]
    started = time.monotonic()

    page = await feed(client, after=cursor, wait=1)

    assert page == {"items": [], "next_cursor": cursor}
    assert 0.9 < time.monotonic() - started < 5


async def test_a_long_poll_ignores_events_of_other_types(client: httpx.AsyncClient) -> None:
    cursor = (await feed(client))["next_cursor"]
    waiting = asyncio.create_task(
        client.get(EVENTS, params={"after": cursor, "wait": 10, "types": "organization.created"})
    )
    await asyncio.sleep(0.3)
    await create(client, name="alice")
    await asyncio.sleep(0.5)
    assert not waiting.done()
    await client.post("/api/v1/organizations", json={"slug": "acme", "name": "Acme"})

    response = await waiting

    assert [event["type"] for event in response.json()["items"]] == ["organization.created"]


async def _age_every_event(app: FastAPI, *, days: int) -> None:
    connection = await asyncpg.connect(asyncpg_dsn(app.state.settings.database_url))
    try:
        await connection.execute("UPDATE events SET time = time - make_interval(days => $1)", days)
    finally:
        await connection.close()
