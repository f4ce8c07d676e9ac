"""The feed under concurrency: exactly once, per-subject order, and no event passed over
because its transaction committed after later ones."""

import asyncio

import asyncpg
import httpx
from fastapi import FastAPI

from .events import EVENTS, changes, events, feed
from .helpers import asyncpg_dsn, create, new_user

USERS = "/api/v1/users"


async def test_an_event_that_commits_late_is_served_before_later_ones_not_skipped(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    alice = await create(client, name="alice")
    cursor = (await feed(client))["next_cursor"]
    holder = await asyncpg.connect(asyncpg_dsn(app.state.settings.database_url))
    try:
        # Hold alice's row: the PATCH below gets its transaction id, then waits for the lock.
        await holder.execute("BEGIN")
        await holder.execute("SELECT FROM users WHERE id = $1 FOR UPDATE", alice["id"])
        patch = asyncio.create_task(
            client.patch(f"{USERS}/{alice['id']}", json={"username": "alicia"})
        )
        await _until_waiting_for_a_lock(holder)
        bob = await create(client, name="bob")
        carol = await create(client, name="carol")

        while_held = await feed(client, after=cursor)
        await holder.execute("COMMIT")
        assert (await patch).status_code == 200
    finally:
        await holder.close()

    assert while_held == {"items": [], "next_cursor": cursor}
    assert changes(await events(client, after=cursor)) == [
        ("user.updated", f"users/{alice['id']}"),
        ("user.created", f"users/{bob['id']}"),
        ("user.created", f"users/{carol['id']}"),
    ]


async def test_concurrent_patches_of_one_user_are_in_the_feed_in_version_order(
    client: httpx.AsyncClient,
) -> None:
    user = await create(client, name="alice")

    responses = await asyncio.gather(
        *(
            client.patch(f"{USERS}/{user['id']}", json={"username": f"alice{number}"})
            for number in range(20)
        )
    )

    assert {response.status_code for response in responses} == {200}
    updates = [event for event in await events(client) if event["type"] == "user.updated"]
    assert [event["data"]["version"] for event in updates] == list(range(2, 22))


async def test_a_tailing_reader_sees_every_event_of_eight_writers_exactly_once(
    client: httpx.AsyncClient,
) -> None:
    writers, per_writer = 8, 15
    seen: list[dict[str, object]] = []
    done = asyncio.Event()

    async def write(writer: int) -> None:
        for number in range(per_writer):
            response = await client.post(USERS, json=new_user(f"w{writer}n{number}"))
            assert response.status_code == 201

    async def tail() -> None:
        cursor = (await feed(client))["next_cursor"]
        while True:
            finished = done.is_set()
            response = await client.get(EVENTS, params={"after": cursor, "wait": 0.2})
            page = response.json()
            seen.extend(page["items"])
            cursor = page["next_cursor"]
            if finished and not page["items"]:
                return

    tailer = asyncio.create_task(tail())
    await asyncio.gather(*(write(writer) for writer in range(writers)))
    done.set()
    await tailer

    subjects = [event["subject"] for event in seen]
    assert len(subjects) == writers * per_writer
    assert len(set(subjects)) == len(subjects)
    assert [event["id"] for event in seen] == [event["id"] for event in await events(client)]


async def _until_waiting_for_a_lock(connection: asyncpg.Connection) -> None:
    for _ in range(200):
        waiting = await connection.fetchval(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        if waiting:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the request never waited for the lock")
