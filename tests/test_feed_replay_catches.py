"""The check every test of the app ends with (conftest.py: the feed, replayed, gives the tables
as they are) fails for a write that reports nothing, whatever kind of write it is."""

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from .events import replay_mismatches
from .helpers import asyncpg_dsn, create

UNREPORTED = {
    "an update": "UPDATE users SET username = 'mallory', version = version + 1 WHERE id = 1",
    "a delete": "DELETE FROM users WHERE id = 1",
    "an insert": "INSERT INTO users (email, username, hashed_password)"
    " VALUES ('bob@example.com', 'bob', 'x')",
}


@pytest.mark.writes_around_the_service
@pytest.mark.parametrize("write", UNREPORTED.values(), ids=UNREPORTED.keys())
async def test_a_change_without_its_event_is_reported_as_a_mismatch(
    app: FastAPI, client: httpx.AsyncClient, write: str
) -> None:
    await create(client, name="alice")
    connection = await asyncpg.connect(asyncpg_dsn(app.state.settings.database_url))
    try:
        assert await replay_mismatches(connection, app.state.outbox) == []
        await connection.execute(write)

        mismatches = await replay_mismatches(connection, app.state.outbox)
    finally:
        await connection.close()

    assert len(mismatches) == 1
    assert mismatches[0].startswith("users/")
