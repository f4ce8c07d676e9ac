"""PATCH /api/v1/users/{id}: partial changes, If-Match, and no lost update under concurrency."""

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from pwdlib import PasswordHash

from db_postgres_service.main import create_app

from .conftest import make_settings
from .helpers import BCRYPT_HASH, Database, assert_problem, create, http_client


async def test_patch_changes_the_email_and_bumps_version_and_etag(
    client: httpx.AsyncClient, db: Database
) -> None:
    user = await create(client, name="alice")

    response = await client.patch(
        f"/api/v1/users/{user['id']}", json={"email": "Alice.New@Example.com"}
    )

    assert response.status_code == 200
    body = response.json()
    assert body["email"] == "alice.new@example.com"
    assert body["version"] == 2
    assert body["created_at"] == user["created_at"]
    assert body["updated_at"] > user["updated_at"]
    assert response.headers["etag"] == '"2"'
    assert await db.rows("SELECT email, version FROM users") == [
        {"email": "alice.new@example.com", "version": 2}
    ]


async def test_patch_changes_the_username(client: httpx.AsyncClient) -> None:
    user = await create(client, name="alice")

    response = await client.patch(f"/api/v1/users/{user['id']}", json={"username": "Alicia"})

    assert response.status_code == 200
    assert response.json()["username"] == "Alicia"


async def test_patch_hashes_a_new_password(client: httpx.AsyncClient, db: Database) -> None:
    user = await create(client, name="alice")

    response = await client.patch(
        f"/api/v1/users/{user['id']}", json={"password": "a brand new secret"}
    )

    assert response.status_code == 200
    stored = await db.scalar("SELECT hashed_password FROM users")
    assert PasswordHash.recommended().verify("a brand new secret", stored)


async def test_patch_imports_a_password_hash(client: httpx.AsyncClient, db: Database) -> None:
    user = await create(client, name="alice")

    response = await client.patch(
        f"/api/v1/users/{user['id']}", json={"password_hash": BCRYPT_HASH}
    )

    assert response.status_code == 200
    assert await db.scalar("SELECT hashed_password FROM users") == BCRYPT_HASH


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"password": "long enough pw", "password_hash": BCRYPT_HASH},
        {"email": None},
        {"version": 5},
        {"id": 9},
        {"nickname": "x"},
        {"username": "no spaces allowed"},
        {"password_hash": "$2b$32$" + BCRYPT_HASH[7:]},
    ],
)
async def test_patch_refuses_an_invalid_body_and_changes_nothing(
    client: httpx.AsyncClient, db: Database, body: dict[str, object]
) -> None:
    user = await create(client, name="alice")

    response = await client.patch(f"/api/v1/users/{user['id']}", json=body)

    assert_problem(response, 422, "validation-failed")
    assert await db.scalar("SELECT version FROM users") == 1


async def test_patch_to_a_taken_email_is_409_and_changes_nothing(
    client: httpx.AsyncClient, db: Database
) -> None:
    await create(client, name="alice")
    bob = await create(client, name="bob")

    response = await client.patch(f"/api/v1/users/{bob['id']}", json={"email": "ALICE@example.com"})

    problem = assert_problem(response, 409, "conflict")
    assert problem["conflicting_field"] == "email"
    assert await db.rows("SELECT email, version FROM users WHERE id = :id", id=bob["id"]) == [
        {"email": "bob@example.com", "version": 1}
    ]


async def test_patch_to_a_taken_username_in_another_case_is_409(
    client: httpx.AsyncClient,
) -> None:
    await create(client, name="alice")
    bob = await create(client, name="bob")

    response = await client.patch(f"/api/v1/users/{bob['id']}", json={"username": "ALICE"})

    assert assert_problem(response, 409, "conflict")["conflicting_field"] == "username"


async def test_patch_of_an_unknown_user_is_404(client: httpx.AsyncClient) -> None:
    response = await client.patch("/api/v1/users/999", json={"username": "ghost"})

    assert_problem(response, 404, "not-found")


async def test_patch_of_an_unknown_user_with_if_match_is_404(client: httpx.AsyncClient) -> None:
    response = await client.patch(
        "/api/v1/users/999", json={"username": "ghost"}, headers={"If-Match": '"1"'}
    )

    assert_problem(response, 404, "not-found")


@pytest.mark.parametrize("if_match", ['"1"', '"5", "1"', "*"])
async def test_patch_with_a_matching_if_match_succeeds(
    client: httpx.AsyncClient, if_match: str
) -> None:
    user = await create(client, name="alice")

    response = await client.patch(
        f"/api/v1/users/{user['id']}", json={"username": "alicia"}, headers={"If-Match": if_match}
    )

    assert response.status_code == 200
    assert response.json()["version"] == 2


@pytest.mark.parametrize("if_match", ['"2"', 'W/"1"', '"abc"', '""'])
async def test_patch_with_a_stale_or_weak_if_match_is_412_and_changes_nothing(
    client: httpx.AsyncClient, db: Database, if_match: str
) -> None:
    user = await create(client, name="alice")

    response = await client.patch(
        f"/api/v1/users/{user['id']}", json={"username": "alicia"}, headers={"If-Match": if_match}
    )

    assert_problem(response, 412, "precondition-failed")
    assert await db.rows("SELECT username, version FROM users") == [
        {"username": "alice", "version": 1}
    ]


async def test_patch_ignores_if_none_match(client: httpx.AsyncClient) -> None:
    user = await create(client, name="alice")

    response = await client.patch(
        f"/api/v1/users/{user['id']}", json={"username": "alicia"}, headers={"If-None-Match": "*"}
    )

    assert response.status_code == 200


async def test_twenty_concurrent_patches_with_one_if_match_give_one_200_and_19_412(
    client: httpx.AsyncClient, db: Database
) -> None:
    user = await create(client, name="alice")

    responses = await asyncio.gather(
        *(
            client.patch(
                f"/api/v1/users/{user['id']}",
                json={"username": f"writer{i}"},
                headers={"If-Match": '"1"'},
            )
            for i in range(20)
        )
    )

    assert sorted(r.status_code for r in responses) == [200] + [412] * 19
    winner = next(r.json() for r in responses if r.status_code == 200)
    assert await db.rows("SELECT username, version FROM users") == [
        {"username": winner["username"], "version": 2}
    ]


async def test_thirty_concurrent_patches_without_if_match_all_apply(
    client: httpx.AsyncClient, db: Database
) -> None:
    user = await create(client, name="alice")

    responses = await asyncio.gather(
        *(
            client.patch(f"/api/v1/users/{user['id']}", json={"username": f"writer{i}"})
            for i in range(30)
        )
    )

    assert [r.status_code for r in responses] == [200] * 30
    assert sorted(r.json()["version"] for r in responses) == list(range(2, 32))
    assert await db.scalar("SELECT version FROM users") == 31


@pytest.fixture
async def strict_client(app: FastAPI, database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app with REQUIRE_IF_MATCH on (sharing the suite's emptied database)."""
    strict = create_app(make_settings(database_url, require_if_match=True))
    async with strict.router.lifespan_context(strict):
        transport = httpx.ASGITransport(app=strict)
        async with http_client(transport) as client:
            yield client


async def test_patch_without_if_match_is_428_when_required(
    strict_client: httpx.AsyncClient, db: Database
) -> None:
    user = await create(strict_client, name="alice")

    response = await strict_client.patch(f"/api/v1/users/{user['id']}", json={"username": "x1y"})

    assert_problem(response, 428, "precondition-required")
    assert await db.scalar("SELECT version FROM users") == 1


async def test_patch_with_if_match_succeeds_when_required(strict_client: httpx.AsyncClient) -> None:
    user = await create(strict_client, name="alice")

    response = await strict_client.patch(
        f"/api/v1/users/{user['id']}", json={"username": "x1y"}, headers={"If-Match": '"1"'}
    )

    assert response.status_code == 200
