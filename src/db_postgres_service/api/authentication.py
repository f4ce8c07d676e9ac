"""API-key authentication and scope checks for every /api route, as pure ASGI middleware.

Middleware rather than a FastAPI dependency: the dependency machinery costs more than the
check itself on the hot read paths (bench/README.md).
"""

import hmac
import time
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send

from db_postgres_service.api.metrics import record_database_error
from db_postgres_service.api.problems import send_problem
from db_postgres_service.core.api_keys import Scope as ApiScope
from db_postgres_service.core.api_keys import key_digest
from db_postgres_service.core.database import unit_of_work
from db_postgres_service.core.db_errors import DATABASE_FAILURES, map_database_error
from db_postgres_service.core.errors import Forbidden, ServiceUnavailable, Unauthenticated
from db_postgres_service.repositories.api_client_repository import ApiClientRepository

# Below the contract's 5 s, so that a revoked key stops working within it on every instance.
CACHE_SECONDS = 4.0
# Bounds the memory a flood of random keys can take; the cache simply starts over.
CACHE_MAX_ENTRIES = 10_000
_MAX_KEY_LENGTH = 256
_AUTHENTICATE_PATH = "/api/v1/users/authenticate"


@dataclass(frozen=True, slots=True)
class Caller:
    name: str
    scopes: frozenset[str]


class ClientAuthenticator:
    """Looks keys up by their SHA-256 digest, caching verdicts (good and bad) briefly.

    The cache is keyed by the key as presented, so a cached request needs no digest.
    """

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker
        self._cache: dict[str, tuple[float, Caller | None]] = {}

    async def caller(self, key: str) -> Caller | None:
        started = time.monotonic()
        cached = self._cache.get(key)
        if cached is not None and started - cached[0] < CACHE_SECONDS:
            return cached[1]
        digest = key_digest(key)
        async with unit_of_work(self._sessionmaker) as session:
            found = await ApiClientRepository(session).active_key(digest)
        caller = None
        if found is not None and hmac.compare_digest(found.key_hash, digest):
            caller = Caller(found.name, found.scopes)
        if len(self._cache) >= CACHE_MAX_ENTRIES:
            self._cache.clear()
        # Stamped with the time the lookup started, so a verdict never outlives the window.
        self._cache[key] = (started, caller)
        return caller


def required_scope(method: str, path: str) -> ApiScope | None:
    if not path.startswith("/api/"):
        return None
    if method == "GET":
        return ApiScope.USERS_READ
    if path == _AUTHENTICATE_PATH:
        return ApiScope.USERS_AUTHENTICATE
    return ApiScope.USERS_WRITE


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


def _route_exists(scope: Scope) -> bool:
    return any(route.matches(scope)[0] is not Match.NONE for route in scope["app"].router.routes)


class AuthenticationMiddleware:
    """Lets a request through only with a live key holding the route's scope.

    An unknown route stays 404 with or without a key; a key that cannot be checked because
    the database is down is 503, not 401. The caller's name goes to `request.state.client`.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        needed = required_scope(scope["method"], scope["path"]) if scope["type"] == "http" else None
        if needed is None:
            await self.app(scope, receive, send)
            return
        state = scope["state"]
        token = bearer_token(scope)
        try:
            authenticator: ClientAuthenticator = scope["app"].state.authenticator
            caller = await authenticator.caller(token) if token else None
        except DATABASE_FAILURES as error:
            record_database_error(error)
            problem = map_database_error(error) or ServiceUnavailable("Cannot check the API key.")
            await send_problem(send, problem, state["request_id"])
            return
        if caller is not None and needed in caller.scopes:
            state["client"] = caller.name
            await self.app(scope, receive, send)
        elif not _route_exists(scope):
            await self.app(scope, receive, send)
        elif caller is None:
            await send_problem(send, Unauthenticated(), state["request_id"])
        else:
            forbidden = Forbidden(f"The key of {caller.name!r} lacks the scope {needed.value}.")
            await send_problem(send, forbidden, state["request_id"])
