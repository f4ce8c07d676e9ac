"""An event as the feed and the relay send it: CloudEvents 1.0 in JSON, with the `actor` and
`cursor` extensions (CONTRACT.md, "The change feed")."""

import asyncpg
import orjson

from db_postgres_service.api.rendering import rfc3339
from db_postgres_service.events.position import Position

SOURCE = "/db-postgres-service"
CONTENT_TYPE = "application/cloudevents+json"


def position_of(row: asyncpg.Record) -> Position:
    return Position(row["xid"], row["position"])


def event_json(row: asyncpg.Record) -> bytes:
    """One row of the feed's SQL (events/sql.py) as its CloudEvent; `data` is the JSON text
    the write stored, passed on as it is."""
    return orjson.dumps(
        {
            "specversion": "1.0",
            "id": row["id"],
            "source": SOURCE,
            "type": row["type"],
            "subject": row["subject"],
            "time": rfc3339(row["time"]),
            "datacontenttype": "application/json",
            "actor": row["actor"],
            "cursor": position_of(row).cursor,
            "data": orjson.Fragment(row["data"]),
        }
    )
