"""POST /api/v1/users/authenticate, as CONTRACT.md words it."""

import statistics
import time
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pwdlib.hashers.argon2 import Argon2Hasher
from pwdlib.hashers.bcrypt import BcryptHasher
from sqlalchemy import text

from db_postgres_service.users.repository import UserRepository

from .helpers import Database, assert_problem, create, engine_for, new_user

URL = "/api/v1/users/authenticate"
PASSWORD = "correct horse battery"
# Headers that legitimately differ from one response to the next.
PER_REQUEST_HEADERS = {"x-request-id", "content-length"}


def current_argon2_parameters() -> str:
    """The `$v=..$m=..,t=..,p=..$` part of a hash made with today's default parameters."""
    return "$" + "$".join(Argon2Hasher().hash("x").split("$")[2:4]) + "$"


async def import_user(client: httpx.AsyncClient, password_hash: str) -> dict[str, Any]:
    """A user created from an existing hash, as a migration from another system would."""
    body = new_user("alice")
    del body["password"]
    body["password_hash"] = password_hash
    response = await client.post("/api/v1/users", json=body)
    assert response.status_code == 201, response.text
    user: dict[str, Any] = response.json()
    return user


async def stored_hash(db: Database) -> str:
    hashed: str = await db.scalar("SELECT hashed_password FROM users")
    return hashed


def without_request_id(body: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in body.items() if key != "request_id"}


def stable_headers(response: httpx.Response) -> dict[str, str]:
    return {
        name: value for name, value in response.headers.items() if name not in PER_REQUEST_HEADERS
    }


# --- success ------------------------------------------------------------------------------------


async def test_the_right_password_answers_200_with_the_user_and_its_etag(
    client: httpx.AsyncClient,
) -> None:
    created = await create(client, name="alice")

    response = await client.post(URL, json={"login": "alice", "password": PASSWORD})

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["etag"] == '"1"'
    assert response.json() == created
    assert response.json() == (await client.get(f"/api/v1/users/{created['id']}")).json()


async def test_the_etag_is_the_users_current_version(client: httpx.AsyncClient) -> None:
    created = await create(client, name="alice")
    patched = await client.patch(f"/api/v1/users/{created['id']}", json={"username": "alicia"})
    assert patched.status_code == 200

    response = await client.post(URL, json={"login": "alicia", "password": PASSWORD})

    assert response.status_code == 200
    assert response.headers["etag"] == '"2"'
    assert response.json() == patched.json()


async def test_the_username_login_matches_case_insensitively(client: httpx.AsyncClient) -> None:
    created = await create(client, name="alice", username="Alice.Smith")

    response = await client.post(URL, json={"login": "aLICE.sMITH", "password": PASSWORD})

    assert response.status_code == 200
    assert response.json() == created


async def test_the_email_login_matches_case_insensitively(client: httpx.AsyncClient) -> None:
    created = await create(client, name="alice")

    response = await client.post(URL, json={"login": "ALICE@Example.com", "password": PASSWORD})

    assert response.status_code == 200
    assert response.json() == created
    assert response.headers["etag"] == '"1"'


async def test_authenticate_answers_with_a_trailing_slash_too(client: httpx.AsyncClient) -> None:
    created = await create(client, name="alice")

    response = await client.post(URL + "/", json={"login": "alice", "password": PASSWORD})

    assert response.status_code == 200
    assert response.json() == created


async def test_the_password_is_compared_exactly(client: httpx.AsyncClient) -> None:
    await create(client, name="alice")

    response = await client.post(URL, json={"login": "alice", "password": PASSWORD.upper()})

    assert_problem(response, 401, "invalid-login")


# --- failure: one indistinguishable 401 ---------------------------------------------------------


async def test_a_wrong_password_is_401_with_www_authenticate(
    client: httpx.AsyncClient, db: Database
) -> None:
    await create(client, name="alice")
    before = await db.rows("SELECT * FROM users")

    response = await client.post(URL, json={"login": "alice", "password": "wrong-password-1"})

    problem = assert_problem(response, 401, "invalid-login")
    assert problem["title"] == "Invalid login"
    assert "www-authenticate" in response.headers
    assert "etag" not in response.headers
    assert "wrong-password-1" not in response.text
    assert await db.rows("SELECT * FROM users") == before


async def test_an_unknown_login_is_the_same_401_as_a_wrong_password(
    client: httpx.AsyncClient,
) -> None:
    await create(client, name="alice")

    wrong_password = await client.post(URL, json={"login": "alice", "password": "wrong-pw-1"})
    unknown_login = await client.post(URL, json={"login": "nobody", "password": "wrong-pw-2"})

    assert_problem(wrong_password, 401, "invalid-login")
    assert_problem(unknown_login, 401, "invalid-login")
    assert without_request_id(unknown_login.json()) == without_request_id(wrong_password.json())
    assert stable_headers(unknown_login) == stable_headers(wrong_password)
    assert "wrong-pw-1" not in wrong_password.text
    assert "wrong-pw-2" not in unknown_login.text


async def test_an_unknown_email_login_is_401(client: httpx.AsyncClient) -> None:
    await create(client, name="alice")

    response = await client.post(URL, json={"login": "bob@example.com", "password": PASSWORD})

    assert_problem(response, 401, "invalid-login")


async def test_a_login_containing_a_nul_character_is_an_unknown_login(
    client: httpx.AsyncClient,
) -> None:
    await create(client, name="alice")

    response = await client.post(URL, json={"login": "al\u0000ice", "password": PASSWORD})

    assert_problem(response, 401, "invalid-login")
    assert PASSWORD not in response.text


@pytest.mark.parametrize(
    "password",
    ["x" * 100, "\N{GRINNING FACE}" * 30],
    ids=["100-ascii-chars", "30-emoji-120-bytes"],
)
async def test_a_wrong_password_over_72_bytes_against_a_bcrypt_hash_is_401(
    client: httpx.AsyncClient, db: Database, password: str
) -> None:
    bcrypt_hash = BcryptHasher().hash(PASSWORD)
    await import_user(client, bcrypt_hash)

    response = await client.post(URL, json={"login": "alice", "password": password})

    assert_problem(response, 401, "invalid-login")
    assert await stored_hash(db) == bcrypt_hash


async def test_a_wrong_password_and_an_unknown_login_take_about_as_long(
    client: httpx.AsyncClient,
) -> None:
    await create(client, name="alice")
    wrong_password = {"login": "alice", "password": "wrong-password"}
    unknown_login = {"login": "nobody", "password": "wrong-password"}

    async def duration(body: dict[str, str]) -> float:
        started = time.perf_counter()
        response = await client.post(URL, json=body)
        elapsed = time.perf_counter() - started
        assert response.status_code == 401
        return elapsed

    await duration(wrong_password)  # warm up both paths once
    await duration(unknown_login)
    wrong_password_times, unknown_login_times = [], []
    for _ in range(5):
        wrong_password_times.append(await duration(wrong_password))
        unknown_login_times.append(await duration(unknown_login))

    ratio = statistics.median(unknown_login_times) / statistics.median(wrong_password_times)
    assert 0.5 < ratio < 2, (wrong_password_times, unknown_login_times)


# --- re-hashing on login ------------------------------------------------------------------------


async def test_a_bcrypt_user_authenticates_and_is_rehashed_with_argon2id(
    client: httpx.AsyncClient, db: Database
) -> None:
    bcrypt_hash = BcryptHasher().hash(PASSWORD)
    created = await import_user(client, bcrypt_hash)

    response = await client.post(URL, json={"login": "alice", "password": PASSWORD})

    assert response.status_code == 200
    assert response.json() == created
    assert response.headers["etag"] == '"1"'
    rehashed = await stored_hash(db)
    assert rehashed != bcrypt_hash
    assert rehashed.startswith("$argon2id$")
    assert current_argon2_parameters() in rehashed
    assert Argon2Hasher().verify(PASSWORD, rehashed)


async def test_a_rehash_changes_neither_version_nor_updated_at(
    client: httpx.AsyncClient, db: Database
) -> None:
    await import_user(client, BcryptHasher().hash(PASSWORD))
    before = await db.rows("SELECT version, updated_at FROM users")

    response = await client.post(URL, json={"login": "alice", "password": PASSWORD})

    assert response.status_code == 200
    assert (await stored_hash(db)).startswith("$argon2id$")
    assert await db.rows("SELECT version, updated_at FROM users") == before


async def test_the_rehashed_user_still_authenticates(client: httpx.AsyncClient) -> None:
    created = await import_user(client, BcryptHasher().hash(PASSWORD))
    first = await client.post(URL, json={"login": "alice", "password": PASSWORD})
    assert first.status_code == 200

    response = await client.post(URL, json={"login": "alice", "password": PASSWORD})

    assert response.status_code == 200
    assert response.json() == created


async def test_a_wrong_password_leaves_a_bcrypt_hash_alone(
    client: httpx.AsyncClient, db: Database
) -> None:
    bcrypt_hash = BcryptHasher().hash(PASSWORD)
    await import_user(client, bcrypt_hash)

    response = await client.post(URL, json={"login": "alice", "password": "wrong-password"})

    assert_problem(response, 401, "invalid-login")
    assert await stored_hash(db) == bcrypt_hash


async def test_an_argon2_hash_with_outdated_parameters_is_rehashed_to_current_ones(
    client: httpx.AsyncClient, db: Database
) -> None:
    outdated = Argon2Hasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    assert current_argon2_parameters() not in outdated
    await import_user(client, outdated)
    before = await db.rows("SELECT version, updated_at FROM users")

    response = await client.post(URL, json={"login": "alice", "password": PASSWORD})

    assert response.status_code == 200
    rehashed = await stored_hash(db)
    assert rehashed != outdated
    assert rehashed.startswith("$argon2id$")
    assert current_argon2_parameters() in rehashed
    assert Argon2Hasher().verify(PASSWORD, rehashed)
    assert await db.rows("SELECT version, updated_at FROM users") == before


async def test_a_current_argon2id_hash_is_left_as_is(
    client: httpx.AsyncClient, db: Database
) -> None:
    await create(client, name="alice")
    before = await db.rows("SELECT * FROM users")
    assert before[0]["hashed_password"].startswith("$argon2id$")

    response = await client.post(URL, json={"login": "alice", "password": PASSWORD})

    assert response.status_code == 200
    assert await db.rows("SELECT * FROM users") == before


async def test_a_rehash_never_overwrites_a_password_changed_meanwhile(
    app: FastAPI, client: httpx.AsyncClient, db: Database
) -> None:
    bcrypt_hash = BcryptHasher().hash(PASSWORD)
    user = await import_user(client, bcrypt_hash)
    changed = Argon2Hasher().hash("a brand new password")
    async with engine_for(app).begin() as connection:
        await connection.execute(
            text("UPDATE users SET hashed_password = :hash WHERE id = :id"),
            {"hash": changed, "id": user["id"]},
        )

    async with app.state.statement_pool.connection() as connection:
        replaced = await UserRepository(connection).replace_password_hash(
            user["id"], bcrypt_hash, "new"
        )

    assert replaced is False
    assert await stored_hash(db) == changed


async def test_a_rehash_replaces_the_hash_it_was_computed_from(
    app: FastAPI, client: httpx.AsyncClient, db: Database
) -> None:
    bcrypt_hash = BcryptHasher().hash(PASSWORD)
    user = await import_user(client, bcrypt_hash)
    before = await db.rows("SELECT version, updated_at FROM users")

    async with app.state.statement_pool.connection() as connection:
        replaced = await UserRepository(connection).replace_password_hash(
            user["id"], bcrypt_hash, "new"
        )

    assert replaced is True
    assert await stored_hash(db) == "new"
    assert await db.rows("SELECT version, updated_at FROM users") == before


# --- validation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"password": "s3cret-never-echoed"}, "login"),
        ({"login": "alice"}, "password"),
        ({"login": "", "password": "s3cret-never-echoed"}, "login"),
        ({"login": "alice", "password": ""}, "password"),
        ({"login": None, "password": "s3cret-never-echoed"}, "login"),
        ({"login": "alice", "password": None}, "password"),
        ({"login": "alice", "password": "s3cret-never-echoed", "remember": True}, "remember"),
    ],
)
async def test_an_invalid_body_is_422_and_echoes_no_password(
    client: httpx.AsyncClient, db: Database, body: dict[str, Any], field: str
) -> None:
    await create(client, name="alice")

    response = await client.post(URL, json=body)

    problem = assert_problem(response, 422, "validation-failed")
    assert [error["loc"] for error in problem["errors"]] == [["body", field]]
    assert "s3cret-never-echoed" not in response.text
    assert PASSWORD not in response.text


async def test_an_overlong_password_is_422_and_is_not_echoed(client: httpx.AsyncClient) -> None:
    secret = "s3cret" * 200

    response = await client.post(URL, json={"login": "alice", "password": secret})

    problem = assert_problem(response, 422, "validation-failed")
    assert [error["loc"] for error in problem["errors"]] == [["body", "password"]]
    assert "s3cret" not in response.text


async def test_an_empty_body_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post(URL, json={})

    problem = assert_problem(response, 422, "validation-failed")
    assert sorted(error["loc"] for error in problem["errors"]) == [
        ["body", "login"],
        ["body", "password"],
    ]


async def test_no_response_ever_contains_the_password_hash(
    client: httpx.AsyncClient, db: Database
) -> None:
    await create(client, name="alice")
    hashed = await stored_hash(db)

    responses = [
        await client.post(URL, json={"login": "alice", "password": PASSWORD}),
        await client.post(URL, json={"login": "alice", "password": "wrong-password"}),
    ]

    for response in responses:
        assert hashed not in response.text
        assert "hashed_password" not in response.text
        assert PASSWORD not in response.text
