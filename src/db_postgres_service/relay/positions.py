"""How far the relay got: the position of the last event the broker confirmed, per exchange,
and how far behind the feed that is."""

from db_postgres_service.core.database import DriverConnection
from db_postgres_service.events.position import Position
from db_postgres_service.relay.sql import LAG, RECORD, RECORDED

# A statement on a sick database must not hold the relay forever: it starts over instead.
STATEMENT_TIMEOUT_SECONDS = 10.0
# The most events the lag counts: beyond it, the relay reports this many.
LAG_COUNT_LIMIT = 100_000


async def recorded(connection: DriverConnection, exchange: str) -> Position | None:
    """The position recorded for `exchange`; None when nothing was ever published to it."""
    row = await connection.fetchrow(RECORDED, exchange, timeout=STATEMENT_TIMEOUT_SECONDS)
    return None if row is None else Position(row["xid"], row["position"])


async def record(connection: DriverConnection, exchange: str, position: Position) -> None:
    await connection.execute(
        RECORD, exchange, position.xid, position.position, timeout=STATEMENT_TIMEOUT_SECONDS
    )


async def lag(connection: DriverConnection, published: Position) -> tuple[int, float]:
    """(visible events after `published`, at most LAG_COUNT_LIMIT; age in seconds of the
    next one to publish, or 0)."""
    row = await connection.fetchrow(
        LAG,
        published.xid,
        published.position,
        LAG_COUNT_LIMIT,
        timeout=STATEMENT_TIMEOUT_SECONDS,
    )
    assert row is not None, "an aggregate returns one row"
    return row["events"], row["seconds"]
