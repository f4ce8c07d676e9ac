"""Database errors are mapped once, for every resource, by SQLSTATE and constraint name; a
transaction that collided with another runs again before the caller hears of it.

The errors are PostgreSQL's own, raised by real statements on the suite's database, on the
service's own pool.
"""

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from db_postgres_service.core.db_errors import map_database_error
from db_postgres_service.core.errors import ServiceError
from db_postgres_service.core.table_repository import TableRepository
from db_postgres_service.users.repository import UserRepository

from .helpers import BCRYPT_HASH, Database, assert_problem, create

INSERT_USER = "INSERT INTO users (email, username, hashed_password) VALUES ($1, $2, $3)"
# A real PostgreSQL error with the SQLSTATE of a transaction that lost a collision.
COLLIDE = "DO $$ BEGIN RAISE EXCEPTION 'collided' USING ERRCODE = '{}'; END $$"
SERIALIZATION_FAILURE = "40001"
DEADLOCK_DETECTED = "40P01"


@pytest.fixture
async def connection(app: FastAPI) -> AsyncIterator[asyncpg.Connection]:
    async with app.state.statement_pool.connection() as connection:
        yield connection


async def _mapped_from_driver(
    connection: asyncpg.Connection, sql: str, *args: object
) -> ServiceError | None:
    """The problem an error of `sql` on an asyncpg connection maps to."""
    with pytest.raises(asyncpg.PostgresError) as raised:
        async with connection.transaction():
            await connection.execute(sql, *args)
    return map_database_error(raised.value)


def _problem(error: ServiceError | None) -> tuple[int, str, dict[str, Any]]:
    assert error is not None, "a constraint violation is never a bug"
    return error.status, error.detail, error.extensions


async def test_a_unique_violation_is_409_naming_the_field_and_the_resource(
    app: FastAPI, connection: asyncpg.Connection, client: httpx.AsyncClient
) -> None:
    await create(client, name="alice")

    from_driver = await _mapped_from_driver(
        connection, INSERT_USER, "alice@example.com", "other", BCRYPT_HASH
    )
    by_username = await _mapped_from_driver(
        connection, INSERT_USER, "x@example.com", "ALICE", BCRYPT_HASH
    )

    assert _problem(from_driver) == (
        409,
        "A user with this email already exists.",
        {"conflicting_field": "email"},
    )
    assert _problem(by_username) == (
        409,
        "A user with this username already exists.",
        {"conflicting_field": "username"},
    )


async def test_a_foreign_key_to_a_missing_row_is_404_naming_what_is_missing(
    app: FastAPI, connection: asyncpg.Connection
) -> None:
    # A table of another feature pointing at users, named by the convention of models/base.py.
    await connection.execute(
        "CREATE TABLE notes (user_id bigint"
        " CONSTRAINT fk_notes_user_id_users REFERENCES users (id))"
    )
    try:
        mapped = await _mapped_from_driver(connection, "INSERT INTO notes VALUES ($1)", 424242)
    finally:
        await connection.execute("DROP TABLE notes")

    assert _problem(mapped) == (
        404,
        "The user this request refers to does not exist.",
        {"missing": "user"},
    )


async def test_a_check_violation_is_422_naming_the_rule(
    app: FastAPI, connection: asyncpg.Connection
) -> None:
    from_driver = await _mapped_from_driver(
        connection, INSERT_USER, "Upper@Example.com", "upper", BCRYPT_HASH
    )
    versionless = await _mapped_from_driver(
        connection,
        "INSERT INTO users (email, username, hashed_password, version) VALUES ($1, $2, $3, 0)",
        "v@example.com",
        "vvv",
        BCRYPT_HASH,
    )

    assert _problem(from_driver) == (
        422,
        "The user would break the rule ck_users_email_lower.",
        {"errors": [{"loc": ["body"], "msg": "breaks the rule ck_users_email_lower"}]},
    )
    assert _problem(versionless)[:2] == (
        422,
        "The user would break the rule ck_users_version_positive.",
    )


async def test_a_not_null_violation_is_422_naming_the_field(
    app: FastAPI, connection: asyncpg.Connection
) -> None:
    mapped = await _mapped_from_driver(connection, INSERT_USER, None, "nobody", BCRYPT_HASH)

    assert _problem(mapped) == (
        422,
        "The user's email must not be null.",
        {"errors": [{"loc": ["body", "email"], "msg": "must not be null"}]},
    )


def _colliding(
    original: Callable[..., Awaitable[Any]],
    database: Callable[[Any], Any],
    times: int,
    state: str = SERIALIZATION_FAILURE,
) -> tuple[Callable[..., Awaitable[Any]], list[int]]:
    """`original`, whose first `times` calls first fail in PostgreSQL with `state` on the
    repository's own connection (`database(self)` runs the failing statement)."""
    calls: list[int] = []

    async def colliding(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) <= times:
            await database(self)(COLLIDE.format(state))
        return await original(self, *args, **kwargs)

    return colliding, calls


def _on_connection(repository: Any) -> Callable[[str], Awaitable[Any]]:
    connection: asyncpg.Connection = repository.connection
    return connection.execute


async def test_a_write_whose_transaction_collided_runs_again_and_succeeds(
    client: httpx.AsyncClient, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = await create(client, name="alice")
    colliding, calls = _colliding(TableRepository.update, _on_connection, times=2)
    monkeypatch.setattr(TableRepository, "update", colliding)

    response = await client.patch(f"/api/v1/users/{user['id']}", json={"username": "alicia"})

    assert response.status_code == 200
    assert response.json()["version"] == 2
    assert len(calls) == 3
    assert await db.rows("SELECT username, version FROM users") == [
        {"username": "alicia", "version": 2}
    ]


async def test_a_write_that_keeps_colliding_is_503_after_three_runs_and_changes_nothing(
    client: httpx.AsyncClient, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = await create(client, name="alice")
    colliding, calls = _colliding(
        TableRepository.delete, _on_connection, times=3, state=DEADLOCK_DETECTED
    )
    monkeypatch.setattr(TableRepository, "delete", colliding)

    response = await client.delete(f"/api/v1/users/{user['id']}")

    problem = assert_problem(response, 503, "service-unavailable")
    assert problem["detail"] == "The transaction kept colliding with others; retry it."
    assert response.headers["retry-after"] == "0"
    assert len(calls) == 3
    assert await db.scalar("SELECT count(*) FROM users") == 1


async def test_a_transaction_of_several_statements_runs_again_whole_with_its_body(
    client: httpx.AsyncClient, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    colliding, calls = _colliding(UserRepository.create_many, _on_connection, times=1)
    monkeypatch.setattr(UserRepository, "create_many", colliding)
    items = [{"email": "alice@example.com", "username": "alice", "password_hash": BCRYPT_HASH}]

    response = await client.post(
        "/api/v1/users/batch", json={"items": items}, headers={"Idempotency-Key": "batch-1"}
    )

    assert response.status_code == 201
    assert [user["username"] for user in response.json()["items"]] == ["alice"]
    assert len(calls) == 2
    assert await db.scalar("SELECT count(*) FROM users") == 1
    assert await db.scalar("SELECT count(*) FROM idempotency_keys") == 1


async def test_a_fast_lane_create_that_collided_runs_again(
    client: httpx.AsyncClient, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    colliding, calls = _colliding(
        TableRepository.create, _on_connection, times=1, state=DEADLOCK_DETECTED
    )
    monkeypatch.setattr(TableRepository, "create", colliding)
    body = {"email": "alice@example.com", "username": "alice", "password_hash": BCRYPT_HASH}

    response = await client.post("/api/v1/users", json=body)

    assert response.status_code == 201
    assert response.json()["username"] == "alice"
    assert len(calls) == 2
    assert await db.scalar("SELECT count(*) FROM users") == 1
