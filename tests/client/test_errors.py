"""Every problem type the service lists in /openapi.json raises its own class: one real
request per type, provoked through the client."""

import asyncio
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from sqlalchemy import text
from starlette.exceptions import HTTPException

from db_postgres_service.api.scopes import requires
from db_postgres_service.clients import create_client
from db_postgres_service.core.table_repository import TableRepository
from db_postgres_service.events.retention import sweep
from db_postgres_service.main import create_app
from db_postgres_service_client import AsyncClient, errors
from db_postgres_service_client._calls import Call, nothing
from db_postgres_service_client.errors import PROBLEM_BASE_URI, DpsError

from ..conftest import make_settings
from ..helpers import ARGON2_HASH, TEST_API_KEY, engine_for
from ..serving import free_port
from ..test_events_feed import _age_every_event
from ..test_idempotency import _KEY_LOCK
from .conftest import BASE_URL, in_process
from .test_drift import document


@dataclass
class Env:
    app: FastAPI
    dps: AsyncClient
    database_url: str
    monkeypatch: pytest.MonkeyPatch


Provoke = Callable[[Env], Awaitable[object]]


def listed_types() -> list[str]:
    """The problem types the document's Problem schema lists."""
    description = document()["components"]["schemas"]["Problem"]["properties"]["type"]
    return re.findall(r"^- `([^`]+)`", description["description"], re.MULTILINE)


@asynccontextmanager
async def app_client(
    app: FastAPI, *, key: str = TEST_API_KEY, **options: Any
) -> AsyncIterator[AsyncClient]:
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as http,
    ):
        yield AsyncClient(BASE_URL, key, http_client=http, **options)


class Rewriting(httpx.AsyncBaseTransport):
    """Sends each request to the app with its body or headers replaced, as a careless caller
    (not this client) would send them."""

    def __init__(self, app: FastAPI, *, content: bytes | None = None, **headers: str) -> None:
        self.inner = httpx.ASGITransport(app=app)
        self.content = content
        self.headers = headers

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        content = request.content if self.content is None else self.content
        sent = {k: v for k, v in request.headers.items() if k != "content-length"}
        rewritten = httpx.Request(
            request.method, request.url, headers={**sent, **self.headers}, content=content
        )
        return await self.inner.handle_async_request(rewritten)


async def alice(env: Env) -> Any:
    return await env.dps.users.create(
        email=f"{uuid.uuid4().hex}@example.com",
        username=uuid.uuid4().hex[:20],
        password_hash=ARGON2_HASH,
    )


async def conflict(env: Env) -> None:
    first = await alice(env)
    await env.dps.users.create(email=first.email, username="another", password="long enough")


async def forbidden(env: Env) -> None:
    key = await create_client(env.database_url, f"reader-{uuid.uuid4().hex}", ["users:read"])
    async with in_process(env.app, key=key) as reader:
        await reader.users.create(email="a@example.com", username="abc", password="x" * 8)


async def gone(env: Env) -> None:
    await alice(env)
    await alice(env)
    old = (await env.dps.events.list_page(limit=1)).next_cursor
    await _age_every_event(env.app, days=8)
    await sweep(env.app.state.statement_pool, retention_days=7)
    await env.dps.events.list_page(after=old)


async def _teapot() -> None:
    raise HTTPException(418, "A kind of error the service has no type of its own for.")


async def http_error(env: Env) -> None:
    app = create_app(make_settings(env.database_url))
    router = APIRouter()
    router.add_api_route(
        "/api/v1/teapot", _teapot, methods=["GET"], dependencies=[requires("users:read")]
    )
    app.include_router(router)
    async with app_client(app) as client:
        await client.send(Call("GET", "/api/v1/teapot", nothing))


async def idempotency_key_in_flight(env: Env) -> None:
    lock = {"client": "tests", "route": "POST /api/v1/users", "key": "key-1"}
    async with engine_for(env.app).connect() as connection, connection.begin():
        await connection.execute(text(_KEY_LOCK), lock)
        async with in_process(env.app, max_retries=0) as client:
            await client.users.create(
                email="a@example.com", username="abc", password="x" * 8, idempotency_key="key-1"
            )


async def internal(env: Env) -> None:
    async def bug(*_: object) -> None:
        raise RuntimeError("a bug")

    env.monkeypatch.setattr(TableRepository, "delete", bug)
    await env.dps.users.delete(1)


async def invalid_login(env: Env) -> None:
    user = await alice(env)
    await env.dps.users.authenticate(user.username, "not the password")


async def malformed_precondition(env: Env) -> None:
    user = await alice(env)
    await env.dps.users.update(user.id, if_match="1", username="renamed")


async def malformed_request(env: Env) -> None:
    # Nested deeper than any JSON parser recurses: malformed JSON all the same.
    async with in_process(env.app, Rewriting(env.app, content=b"[" * 100_000)) as client:
        await client.users.create(email="a@example.com", username="abc", password="x" * 8)


async def method_not_allowed(env: Env) -> None:
    await env.dps.send(Call("PUT", "/api/v1/users/batch", nothing))


async def not_found(env: Env) -> None:
    await env.dps.users.get(123456)


async def owner_required(env: Env) -> None:
    organization = await env.dps.organizations.create(slug="acme", name="Acme")
    await env.dps.memberships.put(organization, await alice(env), role="member")


async def payload_too_large(env: Env) -> None:
    item = {"email": "a@example.com", "username": "abc", "password": "x" * 1024}
    await env.dps.users.create_many([item] * 1000)


async def precondition_failed(env: Env) -> None:
    user = await alice(env)
    await env.dps.users.update(user.id, if_match='"99"', username="renamed")


async def precondition_required(env: Env) -> None:
    user = await alice(env)
    strict = create_app(make_settings(env.database_url, require_if_match=True))
    async with app_client(strict) as client:
        await client.users.update(user.id, username="renamed")


async def service_unavailable(env: Env) -> None:
    nowhere = f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/nothing"
    down = create_app(make_settings(nowhere, db_connect_timeout=1.0))
    async with app_client(down, max_retries=0) as client:
        await client.users.get(1)


async def too_many_requests(env: Env) -> None:
    key = await create_client(
        env.database_url,
        f"limited-{uuid.uuid4().hex}",
        ["users:read", "users:write"],
        max_in_flight=1,
    )
    user = await alice(env)
    async with in_process(env.app, key=key, max_retries=0) as limited:
        held = None
        try:
            async with engine_for(env.app).connect() as connection, connection.begin():
                await connection.execute(text(_ROW_LOCK), {"id": user.id})
                held = asyncio.create_task(limited.users.update(user.id, username="renamed"))
                await _until_a_backend_waits_for_a_lock(env)
                await limited.users.get(user.id)
        finally:
            if held is not None:
                await held


_ROW_LOCK = "SELECT 1 FROM users WHERE id = :id FOR UPDATE"


async def _until_a_backend_waits_for_a_lock(env: Env) -> None:
    async with engine_for(env.app).connect() as connection:
        for _ in range(100):
            waiting = await connection.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            )
            if waiting:
                return
            await asyncio.sleep(0.05)
    raise AssertionError("the PATCH never waited for the row lock")


async def unauthorized(env: Env) -> None:
    async with in_process(env.app, key="dps_not-a-key") as client:
        await client.users.get(1)


async def unsupported_media_type(env: Env) -> None:
    transport = Rewriting(env.app, **{"content-type": "text/plain"})
    async with in_process(env.app, transport) as client:
        await client.users.create(email="a@example.com", username="abc", password="x" * 8)


async def validation_failed(env: Env) -> None:
    await env.dps.users.create(email="not an address", username="abc", password="x" * 8)


# Per problem type: the request that provokes it, and the class the client raises for it.
PROVOKED: dict[str, tuple[Provoke, type[DpsError]]] = {
    "conflict": (conflict, errors.Conflict),
    "forbidden": (forbidden, errors.Forbidden),
    "gone": (gone, errors.Gone),
    # The service's fallback for an HTTP error it has no type of its own for: no class either.
    "http-error": (http_error, DpsError),
    "idempotency-key-in-flight": (idempotency_key_in_flight, errors.IdempotencyKeyInFlight),
    "internal": (internal, errors.InternalError),
    "invalid-login": (invalid_login, errors.InvalidLogin),
    "malformed-precondition": (malformed_precondition, errors.MalformedPrecondition),
    "malformed-request": (malformed_request, errors.MalformedRequest),
    "method-not-allowed": (method_not_allowed, errors.MethodNotAllowed),
    "not-found": (not_found, errors.NotFound),
    "owner-required": (owner_required, errors.OwnerRequired),
    "payload-too-large": (payload_too_large, errors.PayloadTooLarge),
    "precondition-failed": (precondition_failed, errors.PreconditionFailed),
    "precondition-required": (precondition_required, errors.PreconditionRequired),
    "service-unavailable": (service_unavailable, errors.Unavailable),
    "too-many-requests": (too_many_requests, errors.RateLimited),
    "unauthorized": (unauthorized, errors.Unauthorized),
    "unsupported-media-type": (unsupported_media_type, errors.UnsupportedMediaType),
    "validation-failed": (validation_failed, errors.ValidationFailed),
}


def test_every_listed_type_is_provoked_here() -> None:
    listed = {uri.removeprefix(PROBLEM_BASE_URI) for uri in listed_types()}

    assert listed == set(PROVOKED)


@pytest.mark.parametrize(
    "uri",
    [
        pytest.param(uri, marks=[pytest.mark.writes_around_the_service] if "gone" in uri else [])
        for uri in listed_types()
    ],
)
async def test_each_problem_type_raises_its_class(
    uri: str, app: FastAPI, dps: AsyncClient, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    provoke, expected = PROVOKED[uri.removeprefix(PROBLEM_BASE_URI)]

    with pytest.raises(DpsError) as raised:
        await provoke(Env(app, dps, database_url, monkeypatch))

    assert type(raised.value) is expected
    assert raised.value.type == uri
    assert raised.value.request_id
    assert raised.value.problem["request_id"] == raised.value.request_id
    assert raised.value.title
    assert raised.value.detail


def test_a_type_the_client_does_not_know_raises_dps_error_itself() -> None:
    problem = {"type": PROBLEM_BASE_URI + "from-the-future", "status": 418, "title": "T"}

    error = errors.error_for(problem, status=418, request_id="r", retry_after=None)

    assert type(error) is DpsError
    assert (error.status, error.request_id, error.problem) == (418, "r", problem)


def test_every_error_class_is_reexported_at_the_root() -> None:
    import db_postgres_service_client as root

    for error in errors.ERRORS_BY_TYPE.values():
        assert getattr(root, error.__name__) is error
