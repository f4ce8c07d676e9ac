"""POST /api/v1/users/batch, as CONTRACT.md words it: 1-1000 users, all or nothing."""

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pwdlib import PasswordHash

from .helpers import ARGON2_HASH, BCRYPT_HASH, Database, assert_problem, create, new_user

BATCH = "/api/v1/users/batch"
USER_FIELDS = {"id", "email", "username", "created_at", "updated_at", "version"}


def imported(name: str, password_hash: str = BCRYPT_HASH, **overrides: Any) -> dict[str, Any]:
    """A create item that imports an existing hash instead of giving a password."""
    item = new_user(name, **overrides)
    del item["password"]
    item["password_hash"] = password_hash
    return item


async def test_batch_answers_201_with_every_user_in_input_order(
    client: httpx.AsyncClient, db: Database
) -> None:
    items = [
        imported("carol", email="Carol@Example.COM"),
        imported("Alice"),
        imported("bob", email="BOB@example.com"),
    ]

    response = await client.post(BATCH, json={"items": items})

    assert response.status_code == 201
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"items"}
    users = body["items"]
    assert [set(user) for user in users] == [USER_FIELDS] * 3
    assert [(user["email"], user["username"]) for user in users] == [
        ("carol@example.com", "carol"),
        ("alice@example.com", "Alice"),
        ("bob@example.com", "bob"),
    ]
    assert [user["version"] for user in users] == [1, 1, 1]
    assert all(user["created_at"] == user["updated_at"] for user in users)
    assert all(user["created_at"].endswith("Z") for user in users)
    assert len({user["id"] for user in users}) == 3
    assert await db.rows("SELECT id, email, username, version FROM users ORDER BY id") == sorted(
        ({k: user[k] for k in ("id", "email", "username", "version")} for user in users),
        key=lambda row: row["id"],
    )


async def test_batch_hashes_each_password_with_argon2id_for_its_own_user(
    client: httpx.AsyncClient, db: Database
) -> None:
    items = [
        new_user("alice", password="alice's secret"),
        new_user("bob", password="bob's secret!"),
    ]

    response = await client.post(BATCH, json={"items": items})

    assert response.status_code == 201
    assert "secret" not in response.text
    stored = {
        row["username"]: row["hashed_password"]
        for row in await db.rows("SELECT username, hashed_password FROM users")
    }
    hasher = PasswordHash.recommended()
    assert stored["alice"].startswith("$argon2id$")
    assert stored["bob"].startswith("$argon2id$")
    assert hasher.verify("alice's secret", stored["alice"])
    assert hasher.verify("bob's secret!", stored["bob"])


async def test_batch_imports_argon2_and_bcrypt_hashes_verbatim(
    client: httpx.AsyncClient, db: Database
) -> None:
    items = [imported("alice", ARGON2_HASH), imported("bob", BCRYPT_HASH)]

    response = await client.post(BATCH, json={"items": items})

    assert response.status_code == 201
    assert "$argon2" not in response.text
    assert "$2b$" not in response.text
    assert await db.rows("SELECT username, hashed_password FROM users ORDER BY username") == [
        {"username": "alice", "hashed_password": ARGON2_HASH},
        {"username": "bob", "hashed_password": BCRYPT_HASH},
    ]


async def test_batch_mixes_passwords_and_imported_hashes_and_keeps_the_order(
    client: httpx.AsyncClient, db: Database
) -> None:
    items = [
        new_user("alice", password="first password"),
        imported("bob", ARGON2_HASH),
        new_user("carol", password="third password"),
        imported("dave", BCRYPT_HASH),
    ]

    response = await client.post(BATCH, json={"items": items})

    assert response.status_code == 201
    assert [user["username"] for user in response.json()["items"]] == [
        "alice",
        "bob",
        "carol",
        "dave",
    ]
    stored = {
        row["username"]: row["hashed_password"]
        for row in await db.rows("SELECT username, hashed_password FROM users")
    }
    hasher = PasswordHash.recommended()
    assert hasher.verify("first password", stored["alice"])
    assert stored["bob"] == ARGON2_HASH
    assert hasher.verify("third password", stored["carol"])
    assert stored["dave"] == BCRYPT_HASH


async def test_batch_of_1000_items_is_accepted(client: httpx.AsyncClient, db: Database) -> None:
    items = [imported(f"user{i:04d}") for i in range(1000)]

    response = await client.post(BATCH, json={"items": items})

    assert response.status_code == 201, response.text
    assert [user["username"] for user in response.json()["items"]] == [
        item["username"] for item in items
    ]
    assert await db.scalar("SELECT count(*) FROM users") == 1000


async def test_batch_of_1001_items_is_422_and_inserts_nothing(
    client: httpx.AsyncClient, db: Database
) -> None:
    items = [imported(f"user{i:04d}") for i in range(1001)]

    response = await client.post(BATCH, json={"items": items})

    problem = assert_problem(response, 422, "validation-failed")
    assert [error["loc"] for error in problem["errors"]] == [["body", "items"]]
    assert await db.scalar("SELECT count(*) FROM users") == 0


async def test_empty_batch_is_422(client: httpx.AsyncClient, db: Database) -> None:
    response = await client.post(BATCH, json={"items": []})

    problem = assert_problem(response, 422, "validation-failed")
    assert [error["loc"] for error in problem["errors"]] == [["body", "items"]]
    assert await db.scalar("SELECT count(*) FROM users") == 0


async def test_batch_repeating_an_email_in_another_case_is_409_at_the_repeat(
    client: httpx.AsyncClient, db: Database
) -> None:
    items = [imported(f"user{i}") for i in range(5)]
    items[3]["email"] = "USER0@Example.com"

    response = await client.post(BATCH, json={"items": items})

    problem = assert_problem(response, 409, "conflict")
    assert problem["index"] == 3
    assert problem["conflicting_field"] == "email"
    assert await db.scalar("SELECT count(*) FROM users") == 0


async def test_batch_repeating_a_username_in_another_case_is_409_at_the_repeat(
    client: httpx.AsyncClient, db: Database
) -> None:
    items = [imported(f"user{i}") for i in range(5)]
    items[3]["username"] = "USER1"

    response = await client.post(BATCH, json={"items": items})

    problem = assert_problem(response, 409, "conflict")
    assert problem["index"] == 3
    assert problem["conflicting_field"] == "username"
    assert await db.scalar("SELECT count(*) FROM users") == 0


async def test_batch_colliding_with_an_existing_user_is_409_and_inserts_nothing(
    client: httpx.AsyncClient, db: Database
) -> None:
    await create(client, name="alice")
    items = [imported("bob"), imported("carol"), imported("x", username="alice"), imported("dave")]

    response = await client.post(BATCH, json={"items": items})

    problem = assert_problem(response, 409, "conflict")
    assert problem["index"] == 2
    assert problem["conflicting_field"] == "username"
    assert await db.rows("SELECT email, username FROM users") == [
        {"email": "alice@example.com", "username": "alice"}
    ]


async def test_batch_colliding_with_an_existing_email_in_another_case_names_the_email(
    client: httpx.AsyncClient, db: Database
) -> None:
    await create(client, name="alice")
    items = [imported("bob"), imported("carol", email="ALICE@example.com")]

    response = await client.post(BATCH, json={"items": items})

    problem = assert_problem(response, 409, "conflict")
    assert problem["index"] == 1
    assert problem["conflicting_field"] == "email"
    assert await db.scalar("SELECT count(*) FROM users") == 1


@pytest.mark.parametrize("field", ["email", "username"])
async def test_batch_with_several_conflicts_reports_the_first_failing_item(
    client: httpx.AsyncClient, db: Database, field: str
) -> None:
    await create(client, name="alice")
    items = [imported(f"user{i}") for i in range(5)]
    items[1][field] = items[0][field].upper()  # item 1 repeats item 0
    items[4]["username"] = "alice"  # item 4 collides with the table

    response = await client.post(BATCH, json={"items": items})

    problem = assert_problem(response, 409, "conflict")
    assert problem["index"] == 1
    assert problem["conflicting_field"] == field
    assert await db.scalar("SELECT count(*) FROM users") == 1


@pytest.fixture
def no_hashing(app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to hash a batch's passwords fails the test."""

    async def refuse(passwords: list[str]) -> list[str]:
        raise AssertionError(f"{len(passwords)} passwords hashed for a batch bound to conflict")

    monkeypatch.setattr(app.state.password_hasher, "hash_many", refuse)


@pytest.mark.parametrize("field", ["email", "username"])
@pytest.mark.usefixtures("no_hashing")
async def test_batch_of_passwords_repeating_an_item_is_refused_before_hashing(
    client: httpx.AsyncClient, db: Database, field: str
) -> None:
    items = [new_user(f"user{i}") for i in range(4)]
    items[2][field] = items[0][field].upper()

    response = await client.post(BATCH, json={"items": items})

    problem = assert_problem(response, 409, "conflict")
    assert problem["index"] == 2
    assert problem["conflicting_field"] == field
    assert await db.scalar("SELECT count(*) FROM users") == 0


@pytest.mark.parametrize("field", ["email", "username"])
async def test_batch_of_passwords_colliding_with_a_stored_user_is_refused_before_hashing(
    client: httpx.AsyncClient, db: Database, field: str, request: pytest.FixtureRequest
) -> None:
    stored = await create(client, name="alice")
    request.getfixturevalue("no_hashing")
    items = [new_user(f"user{i}") for i in range(4)]
    items[3][field] = stored[field].upper()

    response = await client.post(BATCH, json={"items": items})

    problem = assert_problem(response, 409, "conflict")
    assert problem["index"] == 3
    assert problem["conflicting_field"] == field
    assert await db.scalar("SELECT count(*) FROM users") == 1


async def test_batch_with_an_invalid_item_is_422_located_at_the_item(
    client: httpx.AsyncClient, db: Database
) -> None:
    items = [imported(f"user{i}") for i in range(4)]
    items[2]["email"] = "not-an-email"

    response = await client.post(BATCH, json={"items": items})

    problem = assert_problem(response, 422, "validation-failed")
    assert [error["loc"] for error in problem["errors"]] == [["body", "items", 2, "email"]]
    assert "input" not in problem["errors"][0]
    assert await db.scalar("SELECT count(*) FROM users") == 0


async def test_batch_item_with_an_unknown_field_is_422(
    client: httpx.AsyncClient, db: Database
) -> None:
    items = [imported("alice"), imported("bob", nickname="b")]

    response = await client.post(BATCH, json={"items": items})

    problem = assert_problem(response, 422, "validation-failed")
    assert problem["errors"] == [
        {"loc": ["body", "items", 1, "nickname"], "msg": "Extra inputs are not permitted"}
    ]
    assert await db.scalar("SELECT count(*) FROM users") == 0


async def test_batch_refuses_unknown_fields_beside_items(
    client: httpx.AsyncClient, db: Database
) -> None:
    response = await client.post(BATCH, json={"items": [imported("alice")], "atomic": True})

    problem = assert_problem(response, 422, "validation-failed")
    assert [error["loc"] for error in problem["errors"]] == [["body", "atomic"]]
    assert await db.scalar("SELECT count(*) FROM users") == 0


async def test_batch_answers_with_or_without_a_trailing_slash(client: httpx.AsyncClient) -> None:
    response = await client.post(BATCH + "/", json={"items": [imported("alice")]})

    assert response.status_code == 201
    assert [user["username"] for user in response.json()["items"]] == ["alice"]
