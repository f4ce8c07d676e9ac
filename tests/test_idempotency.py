"""Idempotency-Key on POST /api/v1/users and POST /api/v1/users/batch, as CONTRACT.md words it."""

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from db_postgres_service.main import create_app

from .conftest import make_settings
from .helpers import PROBLEM, Database, assert_problem, create, engine_for, http_client, new_user

USERS = "/api/v1/users"
BATCH = "/api/v1/users/batch"
REPLAYED = "idempotent-replayed"


def single(name: str = "alice", **overrides: Any) -> dict[str, Any]:
    return new_user(name, **overrides)


def batch(*names: str) -> dict[str, Any]:
    return {"items": [new_user(name) for name in names]}


# Each route with a body that creates users on it, and the route template the key is scoped to.
ROUTES = [
    pytest.param(USERS, single("alice"), "POST /api/v1/users", id="users"),
    pytest.param(BATCH, batch("alice", "bob"), "POST /api/v1/users/batch", id="batch"),
]


async def post(
    client: httpx.AsyncClient,
    path: str,
    body: Any,
    key: str | bytes | None,
    request_id: str | None = None,
) -> httpx.Response:
    headers: dict[bytes, bytes] = {}
    if key is not None:
        # Bytes as sent on the wire, so that a test can send a non-ASCII key.
        headers[b"idempotency-key"] = key if isinstance(key, bytes) else key.encode()
    if request_id is not None:
        headers[b"x-request-id"] = request_id.encode()
    if isinstance(body, bytes):
        headers[b"content-type"] = b"application/json"
        return await client.post(path, content=body, headers=headers)
    return await client.post(path, json=body, headers=headers)


async def execute(app: FastAPI, sql: str, **params: Any) -> None:
    """A write straight to the database, committed, behind the service's back."""
    async with engine_for(app).begin() as connection:
        await connection.execute(text(sql), params)


def assert_replay_of(retry: httpx.Response, first: httpx.Response, request_id: str) -> None:
    """The retry repeats the first response unchanged, says so, and carries its own request id."""
    assert retry.status_code == first.status_code
    assert retry.content == first.content
    assert retry.headers[REPLAYED] == "true"
    assert retry.headers["x-request-id"] == request_id
    for name in ("content-type", "location", "etag"):
        assert retry.headers.get(name) == first.headers.get(name), name


# --- replays ------------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "body", "route"), ROUTES)
async def test_a_retry_with_the_same_key_and_body_replays_the_201_and_creates_nothing(
    client: httpx.AsyncClient, db: Database, path: str, body: dict[str, Any], route: str
) -> None:
    first = await post(client, path, body, "key-1", request_id="first-request")
    retry = await post(client, path, body, "key-1", request_id="second-request")

    assert first.status_code == 201
    assert REPLAYED not in first.headers
    assert first.headers["x-request-id"] == "first-request"
    assert_replay_of(retry, first, request_id="second-request")
    expected_rows = len(body["items"]) if "items" in body else 1
    assert await db.scalar("SELECT count(*) FROM users") == expected_rows


async def test_a_replayed_create_repeats_location_and_etag(client: httpx.AsyncClient) -> None:
    first = await post(client, USERS, single("alice"), "key-1")
    retry = await post(client, USERS, single("alice"), "key-1")

    user_id = first.json()["id"]
    assert retry.headers["location"] == f"/api/v1/users/{user_id}"
    assert retry.headers["etag"] == '"1"'
    assert retry.headers["content-type"] == "application/json"
    assert retry.json()["id"] == user_id


@pytest.mark.parametrize(("path", "body", "route"), ROUTES)
async def test_a_retry_whose_body_is_equal_as_json_is_a_replay(
    client: httpx.AsyncClient, db: Database, path: str, body: dict[str, Any], route: str
) -> None:
    first = await post(client, path, json.dumps(body).encode(), "key-1")
    spaced = json.dumps(_reversed_keys(body), indent=4, separators=(" ,  ", " :  ")).encode()
    assert spaced != json.dumps(body).encode()

    retry = await post(client, path, spaced, "key-1", request_id="the-retry")

    assert first.status_code == 201
    assert_replay_of(retry, first, request_id="the-retry")
    expected_rows = len(body["items"]) if "items" in body else 1
    assert await db.scalar("SELECT count(*) FROM users") == expected_rows


def _reversed_keys(value: Any) -> Any:
    """The same JSON value with every object's keys in reverse order."""
    if isinstance(value, dict):
        return {key: _reversed_keys(value[key]) for key in reversed(list(value))}
    if isinstance(value, list):
        return [_reversed_keys(item) for item in value]
    return value


@pytest.mark.parametrize(("path", "body", "route"), ROUTES)
async def test_the_same_key_with_a_different_body_is_422_and_changes_nothing(
    client: httpx.AsyncClient, db: Database, path: str, body: dict[str, Any], route: str
) -> None:
    first = await post(client, path, body, "key-1")
    other = single("carol") if path == USERS else batch("carol", "dave")

    response = await post(client, path, other, "key-1")

    assert first.status_code == 201
    problem = assert_problem(response, 422, "validation-failed")
    assert problem["errors"] == [
        {"loc": ["header", "Idempotency-Key"], "msg": "reused with a different body"}
    ]
    assert REPLAYED not in response.headers
    assert await db.scalar("SELECT count(*) FROM users WHERE username IN ('carol', 'dave')") == 0
    assert await db.scalar("SELECT count(*) FROM idempotency_keys") == 1


async def test_a_different_password_is_a_different_body(
    client: httpx.AsyncClient, db: Database
) -> None:
    await post(client, USERS, single("alice", password="first password"), "key-1")

    response = await post(client, USERS, single("alice", password="other password"), "key-1")

    assert_problem(response, 422, "validation-failed")
    assert await db.scalar("SELECT count(*) FROM users") == 1


@pytest.mark.writes_around_the_service
async def test_a_stored_409_is_replayed_with_the_first_request_id_even_after_the_conflict_is_gone(
    client: httpx.AsyncClient, db: Database, app: FastAPI
) -> None:
    await create(client, name="alice")
    body = single(username="alice", email="other@example.com")
    first = await post(client, USERS, body, "key-1", request_id="first-request")
    await execute(app, "DELETE FROM users WHERE username = 'alice'")

    retry = await post(client, USERS, body, "key-1", request_id="second-request")

    problem = assert_problem(first, 409, "conflict")
    assert problem["conflicting_field"] == "username"
    assert problem["request_id"] == "first-request"
    assert_replay_of(retry, first, request_id="second-request")
    assert retry.headers["content-type"] == PROBLEM
    assert retry.json()["request_id"] == "first-request"
    assert await db.scalar("SELECT count(*) FROM users") == 0


@pytest.mark.writes_around_the_service
async def test_a_stored_batch_409_is_replayed_with_its_index_even_after_the_conflict_is_gone(
    client: httpx.AsyncClient, db: Database, app: FastAPI
) -> None:
    await create(client, name="alice")
    body = {"items": [new_user("bob"), new_user("carol", username="alice")]}
    first = await post(client, BATCH, body, "key-1", request_id="first-request")
    await execute(app, "DELETE FROM users WHERE username = 'alice'")

    retry = await post(client, BATCH, body, "key-1", request_id="second-request")

    problem = assert_problem(first, 409, "conflict")
    assert (problem["index"], problem["conflicting_field"]) == (1, "username")
    assert_replay_of(retry, first, request_id="second-request")
    assert retry.json()["request_id"] == "first-request"
    assert await db.scalar("SELECT count(*) FROM users") == 0


# --- scope ---------------------------------------------------------------------------------


async def test_the_key_is_scoped_to_the_route(client: httpx.AsyncClient, db: Database) -> None:
    on_users = await post(client, USERS, single("alice"), "shared-key")
    on_batch = await post(client, BATCH, batch("bob"), "shared-key")

    assert on_users.status_code == 201
    assert on_batch.status_code == 201
    assert REPLAYED not in on_batch.headers
    assert await db.rows("SELECT username FROM users ORDER BY username") == [
        {"username": "alice"},
        {"username": "bob"},
    ]
    assert await db.rows("SELECT route, key FROM idempotency_keys ORDER BY route") == [
        {"route": "POST /api/v1/users", "key": "shared-key"},
        {"route": "POST /api/v1/users/batch", "key": "shared-key"},
    ]


async def test_a_trailing_slash_is_the_same_route_for_the_key(
    client: httpx.AsyncClient, db: Database
) -> None:
    first = await post(client, USERS, single("alice"), "key-1")

    retry = await post(client, USERS + "/", single("alice"), "key-1", request_id="the-retry")

    assert_replay_of(retry, first, request_id="the-retry")
    assert await db.scalar("SELECT count(*) FROM users") == 1


# --- storage -------------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "body", "route"), ROUTES)
async def test_a_201_stores_one_key_record_for_24_hours(
    client: httpx.AsyncClient, db: Database, path: str, body: dict[str, Any], route: str
) -> None:
    response = await post(client, path, body, "key-1")

    assert response.status_code == 201
    assert await db.rows(
        """
        SELECT client, route, key, status,
               expires_at - now() BETWEEN interval '23 hours 59 minutes' AND interval '24 hours'
                   AS expires_in_24_hours
        FROM idempotency_keys
        """
    ) == [
        {
            "client": "tests",
            "route": route,
            "key": "key-1",
            "status": 201,
            "expires_in_24_hours": True,
        }
    ]


async def test_a_409_stores_one_key_record_with_status_409(
    client: httpx.AsyncClient, db: Database
) -> None:
    await create(client, name="alice")

    response = await post(client, USERS, single("alice"), "key-1")

    assert_problem(response, 409, "conflict")
    assert await db.rows("SELECT status FROM idempotency_keys") == [{"status": 409}]


async def test_the_stored_record_does_not_hold_the_password(
    client: httpx.AsyncClient, db: Database
) -> None:
    secret = "s3cret-Passw0rd-never-stored"

    await post(client, USERS, single("alice", password=secret), "key-1")

    (record,) = await db.rows("SELECT request_fingerprint, body, headers FROM idempotency_keys")
    assert secret.encode() not in bytes(record["request_fingerprint"])
    assert secret.encode() not in bytes(record["body"])
    assert secret not in json.dumps(record["headers"])


@pytest.mark.parametrize(("path", "body", "route"), ROUTES)
async def test_a_request_without_a_key_stores_nothing(
    client: httpx.AsyncClient, db: Database, path: str, body: dict[str, Any], route: str
) -> None:
    created = await post(client, path, body, None)
    refused = await post(client, path, body, None)

    assert created.status_code == 201
    assert_problem(refused, 409, "conflict")
    assert await db.scalar("SELECT count(*) FROM idempotency_keys") == 0


@pytest.mark.parametrize(
    "key",
    [
        pytest.param("", id="empty"),
        pytest.param("k" * 256, id="256-chars"),
        pytest.param("bad\x01key", id="control-char"),
        pytest.param("bad\x7fkey", id="delete-char"),
        pytest.param("caf\u00e9".encode(), id="non-ascii-utf8"),
        pytest.param("caf\u00e9".encode("latin-1"), id="non-ascii-latin1"),
    ],
)
@pytest.mark.parametrize("path", [USERS, BATCH])
async def test_an_invalid_key_is_422_and_stores_nothing(
    client: httpx.AsyncClient, db: Database, path: str, key: str | bytes
) -> None:
    body = single("alice") if path == USERS else batch("alice")

    response = await post(client, path, body, key)

    problem = assert_problem(response, 422, "validation-failed")
    assert [error["loc"] for error in problem["errors"]] == [["header", "Idempotency-Key"]]
    assert await db.scalar("SELECT count(*) FROM users") == 0
    assert await db.scalar("SELECT count(*) FROM idempotency_keys") == 0


async def test_a_key_of_255_printable_characters_is_accepted(
    client: httpx.AsyncClient, db: Database
) -> None:
    key = ("a ~!" * 64)[:255]

    first = await post(client, USERS, single("alice"), key)
    retry = await post(client, USERS, single("alice"), key, request_id="the-retry")

    assert first.status_code == 201
    assert_replay_of(retry, first, request_id="the-retry")
    assert await db.rows("SELECT key FROM idempotency_keys") == [{"key": key}]


# --- expiry --------------------------------------------------------------------------------


async def test_an_expired_key_is_new_again_and_the_request_runs_again(
    client: httpx.AsyncClient, db: Database, app: FastAPI
) -> None:
    first = await post(client, USERS, single("alice"), "key-1")
    await execute(app, "UPDATE idempotency_keys SET expires_at = now() - interval '1 second'")

    retry = await post(client, USERS, single("alice"), "key-1")

    assert first.status_code == 201
    problem = assert_problem(retry, 409, "conflict")
    assert REPLAYED not in retry.headers
    assert problem["conflicting_field"] in {"email", "username"}
    assert await db.scalar("SELECT count(*) FROM users") == 1
    assert await db.rows("SELECT status FROM idempotency_keys") == [{"status": 409}]


@pytest.mark.writes_around_the_service
async def test_an_expired_key_creates_anew_once_the_user_is_gone(
    client: httpx.AsyncClient, db: Database, app: FastAPI
) -> None:
    first = await post(client, USERS, single("alice"), "key-1")
    await execute(app, "UPDATE idempotency_keys SET expires_at = now() - interval '1 second'")
    await execute(app, "DELETE FROM users")

    retry = await post(client, USERS, single("alice"), "key-1")

    assert first.status_code == 201
    assert retry.status_code == 201
    assert REPLAYED not in retry.headers
    assert retry.json()["id"] != first.json()["id"]
    assert await db.rows("SELECT id FROM users") == [{"id": retry.json()["id"]}]
    assert await db.scalar("SELECT count(*) FROM idempotency_keys") == 1


# --- in flight -----------------------------------------------------------------------------

# The lock expression of IdempotencyRepository.try_lock: (client, route, key) joined by U+001F.
_KEY_LOCK = """
    SELECT pg_advisory_xact_lock(hashtextextended(
        concat_ws(chr(31), CAST(:client AS text), CAST(:route AS text), CAST(:key AS text)), 0))
"""


@pytest.mark.parametrize(("path", "body", "route"), ROUTES)
async def test_the_same_key_while_the_first_is_running_is_409_in_flight(
    client: httpx.AsyncClient,
    db: Database,
    app: FastAPI,
    path: str,
    body: dict[str, Any],
    route: str,
) -> None:
    async with engine_for(app).connect() as connection, connection.begin():
        # Hold the key's lock exactly as a running request with this key does.
        lock = {"client": "tests", "route": route, "key": "key-1"}
        await connection.execute(text(_KEY_LOCK), lock)

        response = await asyncio.wait_for(post(client, path, body, "key-1"), timeout=3)

        problem = assert_problem(response, 409, "idempotency-key-in-flight")
        assert "conflicting_field" not in problem
        assert REPLAYED not in response.headers

    assert await db.scalar("SELECT count(*) FROM users") == 0
    assert await db.scalar("SELECT count(*) FROM idempotency_keys") == 0
    after = await post(client, path, body, "key-1")
    assert after.status_code == 201
    assert REPLAYED not in after.headers


async def test_a_running_request_blocks_only_its_own_key(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    async with engine_for(app).connect() as connection, connection.begin():
        await connection.execute(
            text(_KEY_LOCK), {"client": "tests", "route": "POST /api/v1/users", "key": "key-1"}
        )

        response = await asyncio.wait_for(post(client, USERS, single(), "key-2"), timeout=3)

    assert response.status_code == 201


@pytest.mark.parametrize(("path", "body", "route"), ROUTES)
async def test_ten_concurrent_requests_with_one_key_create_once(
    client: httpx.AsyncClient,
    db: Database,
    path: str,
    body: dict[str, Any],
    route: str,
) -> None:
    responses = await asyncio.gather(*(post(client, path, body, "key-1") for _ in range(10)))

    created = [r for r in responses if r.status_code == 201]
    in_flight = [r for r in responses if r.status_code != 201]
    for response in in_flight:
        assert_problem(response, 409, "idempotency-key-in-flight")
    assert created
    assert len({r.content for r in created}) == 1
    assert len([r for r in created if REPLAYED not in r.headers]) == 1
    expected_rows = len(body["items"]) if "items" in body else 1
    assert await db.scalar("SELECT count(*) FROM users") == expected_rows
    assert await db.scalar("SELECT count(*) FROM idempotency_keys") == 1


# --- failures ------------------------------------------------------------------------------


@pytest.fixture
async def impatient_client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """The service on the same database, with a statement timeout short enough to provoke."""
    application = create_app(make_settings(database_url, db_statement_timeout_ms=300))
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with http_client(transport) as client:
            yield client


async def test_a_request_that_failed_with_503_stores_nothing_and_can_be_retried(
    impatient_client: httpx.AsyncClient, db: Database, app: FastAPI
) -> None:
    async with engine_for(app).connect() as connection, connection.begin() as transaction:
        # An uncommitted row with the same username: the service's insert waits for it
        # until its statement times out.
        await connection.execute(
            text(
                "INSERT INTO users (email, username, hashed_password)"
                " VALUES ('blocker@example.com', 'alice', 'x')"
            )
        )

        failed = await post(impatient_client, USERS, single("alice"), "key-1")

        assert_problem(failed, 503, "service-unavailable")
        assert "retry-after" in failed.headers
        await transaction.rollback()

    assert await db.scalar("SELECT count(*) FROM idempotency_keys") == 0
    retry = await post(impatient_client, USERS, single("alice"), "key-1")
    assert retry.status_code == 201
    assert REPLAYED not in retry.headers
    assert await db.scalar("SELECT count(*) FROM users") == 1
