"""Reading the change feed in tests."""

from typing import Any

import asyncpg
import httpx
import orjson

from db_postgres_service.core.outbox import Outbox

EVENTS = "/api/v1/events"


async def feed(client: httpx.AsyncClient, **params: Any) -> dict[str, Any]:
    """One page of the feed; fails the test on anything but 200."""
    response = await client.get(EVENTS, params=params)
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


async def events(client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    """Every event the feed serves now, following next_cursor."""
    found: list[dict[str, Any]] = []
    cursor = params.pop("after", None)
    while True:
        page = await feed(client, limit=1000, **params, **({"after": cursor} if cursor else {}))
        found.extend(page["items"])
        if not page["items"]:
            return found
        cursor = page["next_cursor"]


def changes(found: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """The events as (type, subject), in feed order."""
    return [(event["type"], event["subject"]) for event in found]


async def replay_mismatches(connection: asyncpg.Connection, outbox: Outbox) -> list[str]:
    """Where the feed, replayed, disagrees with the tables: a row whose subject's last event
    is not that row as it is now, or a subject whose last event is not a delete and has no
    row. Empty when every committed change was reported (and nothing else)."""
    last: dict[str, tuple[str, object]] = {}
    for event in await connection.fetch(
        "SELECT type, subject, data::text AS data FROM events ORDER BY xid, position"
    ):
        last[event["subject"]] = (event["type"], orjson.loads(event["data"]))
    mismatches = []
    for source in outbox.sources:
        rows = await connection.fetch(
            f"SELECT {source.subject_sql} AS subject, {source.data_sql}::text AS data"  # noqa: S608
            f" FROM {source.table.name}"
        )
        for row in rows:
            reported = last.pop(row["subject"], None)
            now = orjson.loads(row["data"])
            if reported is None or reported[0].endswith(".deleted") or reported[1] != now:
                mismatches.append(f"{row['subject']} is {now}, its last event {reported}")
    mismatches.extend(
        f"{subject} has no row, its last event {reported}"
        for subject, reported in last.items()
        if not reported[0].endswith(".deleted")
    )
    return mismatches
