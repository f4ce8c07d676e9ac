"""SQL of Idempotency-Key records. The caller holds the request's transaction."""

import datetime
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, delete, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from db_postgres_service.models import IdempotencyKey

# How many expired records one claim sweeps away: keeps the table small without a cron job,
# and bounds the extra work any one request does.
_SWEEP_BATCH = 100

_SWEEP_EXPIRED = text(
    """
    DELETE FROM idempotency_keys WHERE ctid = ANY(ARRAY(
        SELECT ctid FROM idempotency_keys WHERE expires_at <= now()
        LIMIT :batch FOR UPDATE SKIP LOCKED))
    """
)


@dataclass(frozen=True, slots=True)
class KeyScope:
    client: str
    route: str
    key: str


@dataclass(frozen=True, slots=True)
class StoredResponse:
    fingerprint: bytes
    status: int
    headers: dict[str, str]
    body: bytes


class IdempotencyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def try_lock(self, scope: KeyScope) -> bool:
        """Take the key's transaction-scoped advisory lock, or report that another request
        (in any process of any instance) holds it right now."""
        lock_id = func.hashtextextended(
            func.concat_ws("\x1f", scope.client, scope.route, scope.key), 0
        )
        return bool(await self.session.scalar(select(func.pg_try_advisory_xact_lock(lock_id))))

    async def find(self, scope: KeyScope) -> StoredResponse | None:
        """The live record of an earlier request with this key; an expired one is deleted.

        Call with the key's lock held: then no other request can be writing the record.
        """
        await self.session.execute(
            delete(IdempotencyKey).where(_matches(scope), IdempotencyKey.expires_at <= func.now())
        )
        row = (
            await self.session.execute(
                select(
                    IdempotencyKey.request_fingerprint,
                    IdempotencyKey.status,
                    IdempotencyKey.headers,
                    IdempotencyKey.body,
                ).where(_matches(scope))
            )
        ).one_or_none()
        if row is None:
            return None
        return StoredResponse(row.request_fingerprint, row.status, row.headers, row.body)

    async def record(
        self, scope: KeyScope, response: StoredResponse, ttl: datetime.timedelta
    ) -> None:
        await self.session.execute(_SWEEP_EXPIRED, {"batch": _SWEEP_BATCH})
        await self.session.execute(
            insert(IdempotencyKey).values(
                client=scope.client,
                route=scope.route,
                key=scope.key,
                request_fingerprint=response.fingerprint,
                status=response.status,
                headers=response.headers,
                body=response.body,
                expires_at=func.now() + ttl,
            )
        )


def _matches(scope: KeyScope) -> ColumnElement[bool]:
    return and_(
        IdempotencyKey.client == scope.client,
        IdempotencyKey.route == scope.route,
        IdempotencyKey.key == scope.key,
    )
