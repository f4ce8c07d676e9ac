"""API-key authentication and the scope each route declares, as pure ASGI middleware.

Middleware rather than a FastAPI dependency: the dependency machinery costs more than the
check itself on the fast lane (bench/README.md). The route itself checks its scope again
(api/scopes.py).
"""

import hmac
import time
from dataclasses import dataclass
from typing import Final

from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send

from db_postgres_service.api.metrics import record_database_error
from db_postgres_service.api.problems import send_problem
from db_postgres_service.api.route_table import RouteTable
from db_postgres_service.core.api_keys import key_digest
from db_postgres_service.core.database import StatementPool
from db_postgres_service.core.db_errors import DATABASE_FAILURES, map_database_error
from db_postgres_service.core.errors import (
    Forbidden,
    ServiceError,
    ServiceUnavailable,
    Unauthenticated,
)
from db_postgres_service.repositories.api_client_repository import ApiClientRepository

# Below the contract's 5 s, so that a revoked key stops working within it on every instance.
CACHE_SECONDS = 4.0
# Bounds the memory a flood of random keys can take; the cache simply starts over.
CACHE_MAX_ENTRIES = 10_000
_MAX_KEY_LENGTH = 256


@dataclass(frozen=True, slots=True)
class Caller:
    name: str
    scopes: frozenset[str]
    # The operator's limit of the client's requests in flight on one instance, if any.
    max_in_flight: int | None


class ClientAuthenticator:
    """Looks keys up by their SHA-256 digest, caching verdicts (good and bad) briefly.

    The cache is keyed by the key as presented, so a cached request needs no digest.
    """

    def __init__(self) -> None:
        self._pool: StatementPool | None = None
        self._cache: dict[str, tuple[float, Caller | None]] = {}

    def use(self, pool: StatementPool) -> None:
        """Look keys up on `pool` from now on (the worker's, opened at startup), afresh."""
        self._pool = pool
        self._cache.clear()

    def cached(self, key: str) -> tuple[float, Caller | None] | None:
        """The key's last verdict and when it was looked up, however old; None if never."""
        return self._cache.get(key)

    async def caller(self, key: str) -> Caller | None:
        started = time.monotonic()
        cached = self._cache.get(key)
        if cached is not None and started - cached[0] < CACHE_SECONDS:
            return cached[1]
        digest = key_digest(key)
        if self._pool is None:
            raise RuntimeError("The authenticator has no pool: the worker has not started.")
        async with self._pool.connection() as connection:
            found = await ApiClientRepository(connection).active_key(digest)
        caller = None
        if found is not None and hmac.compare_digest(found.key_hash, digest):
            caller = Caller(found.name, found.scopes, found.max_in_flight)
        if len(self._cache) >= CACHE_MAX_ENTRIES:
            self._cache.clear()
        # Stamped with the time the lookup started, so a verdict never outlives the window.
        self._cache[key] = (started, caller)
        return caller


def key_check_failed(error: Exception) -> ServiceError:
    """The answer when a key cannot be checked for the database: 503, not 401."""
    record_database_error(error)
    return map_database_error(error) or ServiceUnavailable("Cannot check the API key.")


_STATE_KEY = "authorization"
_NOT_READ: Final = "(not read)"


def request_token(scope: Scope) -> str | None:
    """The request's bearer token, read from its headers once (admission asks first)."""
    state = scope["state"]
    # Not a KeyError caught: raising one on every request costs more than the lookup saves.
    token: str | None = state.get(_STATE_KEY, _NOT_READ)
    if token is _NOT_READ:
        token = state[_STATE_KEY] = bearer_token(scope)
    return token


def bearer_token(scope: Scope) -> str | None:
    value: bytes
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").strip().partition(" ")
            token = token.strip()
            if scheme.lower() == "bearer" and 0 < len(token) <= _MAX_KEY_LENGTH:
                return token
            return None
    return None


class AuthenticationMiddleware:
    """Lets a request through only with a live key holding the scope its route declares.

    An unknown route stays 404 with or without a key; a known path with a method it does not
    serve needs a live key before it learns which methods it does (405). A key that cannot be
    checked because the database is down is 503, not 401. The caller's name and scopes go to
    the request's state (`client`, `scopes`).
    """

    def __init__(
        self, app: ASGIApp, routes: RouteTable, authenticator: ClientAuthenticator
    ) -> None:
        self.app = app
        self.routes = routes
        self.authenticator = authenticator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        match, endpoint = self.routes.match(scope)
        if endpoint is None or endpoint.required_scope is None:
            await self.app(scope, receive, send)
            return
        needed = endpoint.required_scope if match is Match.FULL else None
        state = scope["state"]
        token = request_token(scope)
        try:
            caller = await self.authenticator.caller(token) if token else None
        except DATABASE_FAILURES as error:
            await send_problem(send, key_check_failed(error), state["request_id"])
            return
        if caller is None:
            await send_problem(send, Unauthenticated(), state["request_id"])
        elif needed is None or needed in caller.scopes:
            state["client"] = caller.name
            state["scopes"] = caller.scopes
            await self.app(scope, receive, send)
        else:
            forbidden = Forbidden(f"The key of {caller.name!r} lacks the scope {needed}.")
            await send_problem(send, forbidden, state["request_id"])
