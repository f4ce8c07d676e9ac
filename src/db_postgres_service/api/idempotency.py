"""Idempotency-Key on POSTs: replay a finished request, refuse one in flight."""

import datetime
import hmac
from collections.abc import Awaitable, Callable

import orjson
from fastapi import Request, Response

from db_postgres_service.api.metrics import record_database_error
from db_postgres_service.api.problems import service_error_response
from db_postgres_service.core.database import StatementConnection
from db_postgres_service.core.db_errors import map_database_error
from db_postgres_service.core.errors import IdempotencyKeyInFlight, ServiceError, ValidationFailed
from db_postgres_service.core.signing import Signer
from db_postgres_service.repositories.idempotency_repository import (
    IdempotencyRepository,
    KeyScope,
    StoredResponse,
)

IDEMPOTENCY_KEY_PATTERN = r"^[\x20-\x7e]{1,255}$"
REPLAYED_HEADER = "Idempotent-Replayed"
_FINGERPRINT_PURPOSE = "idempotency"
# What a replay repeats of the first response besides status and body.
_KEPT_HEADERS = ("content-type", "location", "etag")


def _fingerprint(signer: Signer, body: bytes) -> bytes:
    """A keyed digest of the body as JSON (key order and spacing do not matter).

    Keyed, because the body holds a password: a plain hash of it would be crackable offline.
    """
    canonical = orjson.dumps(orjson.loads(body), option=orjson.OPT_SORT_KEYS)
    return signer.sign(_FINGERPRINT_PURPOSE, canonical)


def _replay(stored: StoredResponse) -> Response:
    headers = {**stored.headers, REPLAYED_HEADER: "true"}
    return Response(stored.body, status_code=stored.status, headers=headers)


def _stored(response: Response, fingerprint: bytes) -> StoredResponse:
    headers = {name: response.headers[name] for name in _KEPT_HEADERS if name in response.headers}
    return StoredResponse(fingerprint, response.status_code, headers, bytes(response.body))


class Idempotency:
    """The Idempotency-Key of one POST, bound to its request's transaction."""

    def __init__(
        self,
        request: Request,
        transaction: StatementConnection,
        signer: Signer,
        *,
        key: str | None,
        client: str,
        ttl: datetime.timedelta,
    ) -> None:
        self._request = request
        self._transaction = transaction
        self._signer = signer
        self._key = key
        self._client = client
        self._ttl = ttl

    async def respond(self, effect: Callable[[], Awaitable[Response]]) -> Response:
        """Run `effect` once per (client, route, key) and remember its 201 or 4xx in the same
        transaction; a retry with the same body gets that response again, unchanged."""
        if self._key is None:
            return await effect()
        request, transaction = self._request, self._transaction
        # The path as routed (trailing slash folded); the POST routes have no path parameters.
        route = f"{request.method} {request.scope['path']}"
        scope = KeyScope(client=self._client, route=route, key=self._key)
        keys = IdempotencyRepository(transaction)
        if not await keys.try_lock(scope):
            raise IdempotencyKeyInFlight()
        fingerprint = _fingerprint(self._signer, await request.body())
        stored = await keys.find(scope)
        if stored is not None:
            if not hmac.compare_digest(stored.fingerprint, fingerprint):
                raise ValidationFailed(
                    [{"loc": ["header", "Idempotency-Key"], "msg": "reused with a different body"}],
                    "This Idempotency-Key was already used with a different body.",
                )
            return _replay(stored)
        try:
            # A savepoint, so that a refused effect (e.g. 409) can still be remembered.
            async with transaction.transaction():
                response = await effect()
        except Exception as error:
            if isinstance(error, ServiceError):
                problem: ServiceError | None = error
            else:
                record_database_error(error)
                problem = map_database_error(error)
            if problem is None or problem.status >= 500:
                raise  # A 5xx stores nothing, so that the request can be retried.
            response = service_error_response(request, problem)
        await keys.record(scope, _stored(response, fingerprint), self._ttl)
        return response
