"""GET /api/v1/users/by_email/{email} and DELETE /api/v1/users/{id}, as CONTRACT.md words them."""

import httpx
import pytest
from fastapi import FastAPI

from .conftest import strict_client
from .helpers import Database, assert_problem, create, new_user

# --- GET /users/by_email/{email} ----------------------------------------------------------------


async def test_get_by_email_answers_the_user_with_its_etag(client: httpx.AsyncClient) -> None:
    created = await create(client, name="alice")

    response = await client.get("/api/v1/users/by_email/alice@example.com")

    assert response.status_code == 200
    assert response.json() == created
    assert response.headers["etag"] == '"1"'
    assert response.headers["content-type"] == "application/json"


async def test_get_by_email_matches_case_insensitively(client: httpx.AsyncClient) -> None:
    created = await create(client, name="alice")

    response = await client.get("/api/v1/users/by_email/ALICE@Example.com")

    assert response.status_code == 200
    assert response.json() == created
    assert response.headers["etag"] == '"1"'


async def test_get_by_email_answers_with_a_trailing_slash_too(client: httpx.AsyncClient) -> None:
    created = await create(client, name="alice")

    response = await client.get("/api/v1/users/by_email/alice@example.com/")

    assert response.status_code == 200
    assert response.json() == created


async def test_get_by_email_of_an_unknown_user_is_404(client: httpx.AsyncClient) -> None:
    await create(client, name="alice")

    response = await client.get("/api/v1/users/by_email/bob@example.com")

    assert_problem(response, 404, "not-found")


async def test_get_by_email_with_a_nul_character_is_404(client: httpx.AsyncClient) -> None:
    await create(client, name="alice")

    response = await client.get("/api/v1/users/by_email/alice%00@example.com")

    assert_problem(response, 404, "not-found")


async def test_get_by_email_answers_304_when_if_none_match_has_the_current_tag(
    client: httpx.AsyncClient,
) -> None:
    await create(client, name="alice")

    response = await client.get(
        "/api/v1/users/by_email/alice@example.com", headers={"If-None-Match": '"1"'}
    )

    assert response.status_code == 304
    assert response.content == b""
    assert response.headers["etag"] == '"1"'


async def test_get_by_email_answers_200_when_if_none_match_has_another_tag(
    client: httpx.AsyncClient,
) -> None:
    created = await create(client, name="alice")

    response = await client.get(
        "/api/v1/users/by_email/alice@example.com", headers={"If-None-Match": '"2"'}
    )

    assert response.status_code == 200
    assert response.json() == created


# --- DELETE /users/{id} -------------------------------------------------------------------------


async def test_delete_answers_204_with_an_empty_body_and_removes_the_row(
    client: httpx.AsyncClient, db: Database
) -> None:
    created = await create(client, name="alice")
    await create(client, name="bob")

    response = await client.delete(f"/api/v1/users/{created['id']}")

    assert response.status_code == 204
    assert response.content == b""
    assert await db.rows("SELECT username FROM users") == [{"username": "bob"}]


async def test_delete_answers_with_a_trailing_slash_too(
    client: httpx.AsyncClient, db: Database
) -> None:
    created = await create(client, name="alice")

    response = await client.delete(f"/api/v1/users/{created['id']}/")

    assert response.status_code == 204
    assert await db.scalar("SELECT count(*) FROM users") == 0


async def test_a_deleted_user_is_404_afterwards(client: httpx.AsyncClient) -> None:
    created = await create(client, name="alice")
    await client.delete(f"/api/v1/users/{created['id']}")

    assert_problem(await client.get(f"/api/v1/users/{created['id']}"), 404, "not-found")
    assert_problem(await client.get("/api/v1/users/by_email/alice@example.com"), 404, "not-found")
    assert_problem(await client.get("/api/v1/users/by_username/alice"), 404, "not-found")


async def test_deleting_a_user_twice_is_404_the_second_time(client: httpx.AsyncClient) -> None:
    created = await create(client, name="alice")
    first = await client.delete(f"/api/v1/users/{created['id']}")
    assert first.status_code == 204

    response = await client.delete(f"/api/v1/users/{created['id']}")

    assert_problem(response, 404, "not-found")


async def test_a_deleted_users_email_and_username_are_free_again(
    client: httpx.AsyncClient, db: Database
) -> None:
    created = await create(client, name="alice")
    await client.delete(f"/api/v1/users/{created['id']}")

    response = await client.post("/api/v1/users", json=new_user("alice"))

    assert response.status_code == 201
    assert response.json()["id"] != created["id"]
    assert response.json()["version"] == 1
    assert await db.rows("SELECT email, username FROM users") == [
        {"email": "alice@example.com", "username": "alice"}
    ]


async def test_delete_with_the_matching_if_match_is_204(
    client: httpx.AsyncClient, db: Database
) -> None:
    created = await create(client, name="alice")

    response = await client.delete(f"/api/v1/users/{created['id']}", headers={"If-Match": '"1"'})

    assert response.status_code == 204
    assert await db.scalar("SELECT count(*) FROM users") == 0


async def test_delete_with_a_list_of_tags_containing_the_current_one_is_204(
    client: httpx.AsyncClient, db: Database
) -> None:
    created = await create(client, name="alice")

    response = await client.delete(
        f"/api/v1/users/{created['id']}", headers={"If-Match": '"7", "1"'}
    )

    assert response.status_code == 204
    assert await db.scalar("SELECT count(*) FROM users") == 0


@pytest.mark.parametrize("header", ['"7"', 'W/"1"', '"2", W/"1"', '""'])
async def test_delete_with_a_non_matching_if_match_is_412_and_keeps_the_row(
    client: httpx.AsyncClient, db: Database, header: str
) -> None:
    created = await create(client, name="alice")

    response = await client.delete(f"/api/v1/users/{created['id']}", headers={"If-Match": header})

    assert_problem(response, 412, "precondition-failed")
    assert await db.rows("SELECT id, version FROM users") == [{"id": created["id"], "version": 1}]


async def test_delete_with_an_if_match_from_before_a_patch_is_412(
    client: httpx.AsyncClient, db: Database
) -> None:
    created = await create(client, name="alice")
    patched = await client.patch(f"/api/v1/users/{created['id']}", json={"username": "alicia"})
    assert patched.headers["etag"] == '"2"'

    stale = await client.delete(f"/api/v1/users/{created['id']}", headers={"If-Match": '"1"'})
    current = await client.delete(f"/api/v1/users/{created['id']}", headers={"If-Match": '"2"'})

    assert_problem(stale, 412, "precondition-failed")
    assert current.status_code == 204
    assert await db.scalar("SELECT count(*) FROM users") == 0


async def test_delete_with_if_match_star_is_204(client: httpx.AsyncClient, db: Database) -> None:
    created = await create(client, name="alice")

    response = await client.delete(f"/api/v1/users/{created['id']}", headers={"If-Match": "*"})

    assert response.status_code == 204
    assert await db.scalar("SELECT count(*) FROM users") == 0


@pytest.mark.parametrize("header", ['"1"', "*"])
async def test_delete_with_if_match_of_an_unknown_user_is_404(
    client: httpx.AsyncClient, header: str
) -> None:
    response = await client.delete("/api/v1/users/424242", headers={"If-Match": header})

    assert_problem(response, 404, "not-found")


async def test_delete_of_an_unknown_user_is_404(client: httpx.AsyncClient, db: Database) -> None:
    await create(client, name="alice")

    response = await client.delete("/api/v1/users/424242")

    assert_problem(response, 404, "not-found")
    assert await db.scalar("SELECT count(*) FROM users") == 1


@pytest.mark.parametrize("user_id", ["0", "-5", "99999999999999999999999"])
async def test_delete_of_an_id_no_user_can_have_is_404(
    client: httpx.AsyncClient, user_id: str
) -> None:
    response = await client.delete(f"/api/v1/users/{user_id}")

    assert_problem(response, 404, "not-found")


@pytest.mark.parametrize("user_id", ["abc", "1.5"])
async def test_delete_with_a_non_integer_id_is_422(
    client: httpx.AsyncClient, db: Database, user_id: str
) -> None:
    await create(client, name="alice")

    response = await client.delete(f"/api/v1/users/{user_id}")

    problem = assert_problem(response, 422, "validation-failed")
    assert [error["loc"] for error in problem["errors"]] == [["path", "user_id"]]
    assert await db.scalar("SELECT count(*) FROM users") == 1


# --- REQUIRE_IF_MATCH ---------------------------------------------------------------------------


async def test_delete_without_if_match_is_428_when_it_is_required(
    app: FastAPI, database_url: str, db: Database
) -> None:
    async with strict_client(database_url) as client:
        created = await create(client, name="alice")

        response = await client.delete(f"/api/v1/users/{created['id']}")

    assert_problem(response, 428, "precondition-required")
    assert await db.rows("SELECT id, version FROM users") == [{"id": created["id"], "version": 1}]


async def test_delete_with_the_right_if_match_is_204_when_it_is_required(
    app: FastAPI, database_url: str, db: Database
) -> None:
    async with strict_client(database_url) as client:
        created = await create(client, name="alice")

        response = await client.delete(
            f"/api/v1/users/{created['id']}", headers={"If-Match": '"1"'}
        )

    assert response.status_code == 204
    assert await db.scalar("SELECT count(*) FROM users") == 0


async def test_delete_with_a_wrong_if_match_is_412_when_it_is_required(
    app: FastAPI, database_url: str, db: Database
) -> None:
    async with strict_client(database_url) as client:
        created = await create(client, name="alice")

        response = await client.delete(
            f"/api/v1/users/{created['id']}", headers={"If-Match": '"7"'}
        )

    assert_problem(response, 412, "precondition-failed")
    assert await db.scalar("SELECT count(*) FROM users") == 1
