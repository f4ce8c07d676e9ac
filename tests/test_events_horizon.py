"""The feed's horizon is the cluster's: PostgreSQL reports the oldest running transaction of
every database alike, so a transaction that writes anywhere on the server holds the feed back
until it ends (README, "The change feed"). Measured here, so that the README's claim stays
true."""

import asyncpg
import httpx
from fastapi import FastAPI

from .conftest import ThrowAwayDatabases
from .events import feed
from .helpers import asyncpg_dsn, create


async def test_a_transaction_in_another_database_holds_the_feed_back_until_it_ends(
    app: FastAPI, client: httpx.AsyncClient, databases: ThrowAwayDatabases
) -> None:
    other = await asyncpg.connect(asyncpg_dsn(await databases.acreate(migrated=False)))
    try:
        await other.execute("CREATE TABLE scratch (n int)")
        await other.execute("BEGIN")
        await other.execute("INSERT INTO scratch VALUES (1)")  # it now has a transaction id
        user = await create(client, name="alice")

        while_open = await feed(client)
        await other.execute("COMMIT")
    finally:
        await other.close()

    assert while_open["items"] == []
    assert [event["subject"] for event in (await feed(client))["items"]] == [f"users/{user['id']}"]


async def test_a_reading_transaction_elsewhere_does_not_hold_the_feed_back(
    app: FastAPI, client: httpx.AsyncClient, databases: ThrowAwayDatabases
) -> None:
    other = await asyncpg.connect(asyncpg_dsn(await databases.acreate(migrated=False)))
    try:
        await other.execute("BEGIN")
        await other.execute("SELECT count(*) FROM pg_class")  # no write: no transaction id
        user = await create(client, name="alice")

        while_open = await feed(client)
        await other.execute("COMMIT")
    finally:
        await other.close()

    assert [event["subject"] for event in while_open["items"]] == [f"users/{user['id']}"]
