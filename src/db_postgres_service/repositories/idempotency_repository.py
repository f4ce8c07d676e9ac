"""SQL of Idempotency-Key records. The caller holds the request's transaction."""

import datetime
from dataclasses import dataclass

import orjson
from sqlalchemy import (
    ColumnElement,
    Interval,
    String,
    and_,
    bindparam,
    delete,
    func,
    insert,
    select,
    text,
)

from db_postgres_service.core.database import StatementConnection, driver_statement
from db_postgres_service.models import IdempotencyKey

# How many expired records one claim sweeps away: keeps the table small without a cron job,
# and bounds the extra work any one request does.
_SWEEP_BATCH = 100

_SWEEP_EXPIRED = driver_statement(
    text(
        """
        DELETE FROM idempotency_keys WHERE ctid = ANY(ARRAY(
            SELECT ctid FROM idempotency_keys WHERE expires_at <= now()
            LIMIT :batch FOR UPDATE SKIP LOCKED))
        """
    )
)
_MATCHES: ColumnElement[bool] = and_(
    IdempotencyKey.client == bindparam("client"),
    IdempotencyKey.route == bindparam("route"),
    IdempotencyKey.key == bindparam("key"),
)
_TRY_LOCK = driver_statement(
    select(
        func.pg_try_advisory_xact_lock(
            func.hashtextextended(
                func.concat_ws(
                    "\x1f",
                    *(bindparam(name, type_=String) for name in ("client", "route", "key")),
                ),
                0,
            )
        )
    )
)
_DELETE_EXPIRED = driver_statement(
    delete(IdempotencyKey).where(_MATCHES, IdempotencyKey.expires_at <= func.now())
)
_FIND = driver_statement(
    select(
        IdempotencyKey.request_fingerprint,
        IdempotencyKey.status,
        IdempotencyKey.headers,
        IdempotencyKey.body,
    ).where(_MATCHES)
)
_RECORD = driver_statement(
    insert(IdempotencyKey).values(
        client=bindparam("client"),
        route=bindparam("route"),
        key=bindparam("key"),
        request_fingerprint=bindparam("fingerprint"),
        status=bindparam("status"),
        headers=bindparam("headers"),
        body=bindparam("body"),
        expires_at=func.now() + bindparam("ttl", type_=Interval),
    )
)


@dataclass(frozen=True, slots=True)
class KeyScope:
    client: str
    route: str
    key: str

    def values(self) -> dict[str, object]:
        return {"client": self.client, "route": self.route, "key": self.key}


@dataclass(frozen=True, slots=True)
class StoredResponse:
    fingerprint: bytes
    status: int
    headers: dict[str, str]
    body: bytes


class IdempotencyRepository:
    def __init__(self, connection: StatementConnection) -> None:
        self.connection = connection

    async def try_lock(self, scope: KeyScope) -> bool:
        """Take the key's transaction-scoped advisory lock, or report that another request
        (in any process of any instance) holds it right now."""
        locked = await self.connection.fetchval(_TRY_LOCK.sql, *_TRY_LOCK.arguments(scope.values()))
        return bool(locked)

    async def find(self, scope: KeyScope) -> StoredResponse | None:
        """The live record of an earlier request with this key; an expired one is deleted.

        Call with the key's lock held: then no other request can be writing the record.
        """
        values = scope.values()
        await self.connection.execute(_DELETE_EXPIRED.sql, *_DELETE_EXPIRED.arguments(values))
        row = await self.connection.fetchrow(_FIND.sql, *_FIND.arguments(values))
        if row is None:
            return None
        fingerprint, status, headers, body = row
        return StoredResponse(fingerprint, status, orjson.loads(headers), body)

    async def record(
        self, scope: KeyScope, response: StoredResponse, ttl: datetime.timedelta
    ) -> None:
        connection = self.connection
        await connection.execute(
            _SWEEP_EXPIRED.sql, *_SWEEP_EXPIRED.arguments({"batch": _SWEEP_BATCH})
        )
        values = scope.values() | {
            "fingerprint": response.fingerprint,
            "status": response.status,
            "headers": orjson.dumps(response.headers).decode(),
            "body": response.body,
            "ttl": ttl,
        }
        await connection.execute(_RECORD.sql, *_RECORD.arguments(values))
