"""POST /api/v1/users, as CONTRACT.md words it."""

import asyncio
import json
import logging
from collections.abc import AsyncIterator

import httpx
import pytest
from pwdlib import PasswordHash

from db_postgres_service.main import create_app

from .conftest import make_settings
from .helpers import ARGON2_HASH, BCRYPT_HASH, Database, assert_problem, http_client, new_user


async def test_create_answers_201_with_the_user_location_and_etag(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/api/v1/users", json=new_user("alice"))

    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "email", "username", "created_at", "updated_at", "version"}
    assert body["email"] == "alice@example.com"
    assert body["username"] == "alice"
    assert body["version"] == 1
    assert body["created_at"] == body["updated_at"]
    assert body["created_at"].endswith("Z")
    assert response.headers["location"] == f"/api/v1/users/{body['id']}"
    assert response.headers["etag"] == '"1"'


async def test_create_stores_the_email_lower_cased_and_the_username_as_given(
    client: httpx.AsyncClient, db: Database
) -> None:
    response = await client.post(
        "/api/v1/users", json=new_user(email="Alice.Smith@Example.COM", username="AliceSmith")
    )

    assert response.status_code == 201
    assert response.json()["email"] == "alice.smith@example.com"
    assert await db.rows("SELECT email, username FROM users") == [
        {"email": "alice.smith@example.com", "username": "AliceSmith"}
    ]


async def test_create_hashes_the_password_with_argon2id_and_never_returns_it(
    client: httpx.AsyncClient, db: Database
) -> None:
    response = await client.post("/api/v1/users", json=new_user(password="correct horse battery"))

    assert "password" not in response.text
    stored = await db.scalar("SELECT hashed_password FROM users")
    assert stored.startswith("$argon2id$")
    assert PasswordHash.recommended().verify("correct horse battery", stored)


async def test_create_imports_an_argon2_hash_verbatim(
    client: httpx.AsyncClient, db: Database
) -> None:
    body = new_user()
    del body["password"]
    body["password_hash"] = ARGON2_HASH

    response = await client.post("/api/v1/users", json=body)

    assert response.status_code == 201
    assert await db.scalar("SELECT hashed_password FROM users") == ARGON2_HASH


async def test_create_imports_a_bcrypt_hash_verbatim(
    client: httpx.AsyncClient, db: Database
) -> None:
    body = new_user()
    del body["password"]
    body["password_hash"] = BCRYPT_HASH

    response = await client.post("/api/v1/users", json=body)

    assert response.status_code == 201
    assert await db.scalar("SELECT hashed_password FROM users") == BCRYPT_HASH


async def test_create_refuses_a_hash_in_an_unknown_format(
    client: httpx.AsyncClient, db: Database
) -> None:
    body = new_user()
    del body["password"]
    body["password_hash"] = "5f4dcc3b5aa765d61d8327deb882cf99"

    response = await client.post("/api/v1/users", json=body)

    problem = assert_problem(response, 422, "validation-failed")
    assert [error["loc"] for error in problem["errors"]] == [["body", "password_hash"]]
    assert "5f4dcc3b" not in response.text
    assert await db.scalar("SELECT count(*) FROM users") == 0


@pytest.mark.parametrize(
    ("password_hash", "reason"),
    [
        ("$2b$99$" + BCRYPT_HASH[7:], "bcrypt cost 04-31"),
        ("$2b$03$" + BCRYPT_HASH[7:], "bcrypt cost 04-31"),
        (ARGON2_HASH.replace("t=3", "t=0"), "m and t 1-999999999"),
        (ARGON2_HASH.replace("p=4", "p=0"), "p 1-9999999"),
        (ARGON2_HASH.replace("m=65536", "m=16"), "memory (m) must be at least 8 x parallelism"),
    ],
)
async def test_create_refuses_a_hash_whose_parameters_no_password_could_ever_match(
    client: httpx.AsyncClient, db: Database, password_hash: str, reason: str
) -> None:
    body = new_user()
    del body["password"]
    body["password_hash"] = password_hash

    response = await client.post("/api/v1/users", json=body)

    problem = assert_problem(response, 422, "validation-failed")
    assert [error["loc"] for error in problem["errors"]] == [["body", "password_hash"]]
    assert reason in problem["errors"][0]["msg"]
    assert await db.scalar("SELECT count(*) FROM users") == 0


async def test_create_refuses_both_password_and_password_hash(
    client: httpx.AsyncClient, db: Database
) -> None:
    response = await client.post("/api/v1/users", json=new_user(password_hash=BCRYPT_HASH))

    assert_problem(response, 422, "validation-failed")
    assert await db.scalar("SELECT count(*) FROM users") == 0


async def test_create_refuses_a_body_without_any_secret(client: httpx.AsyncClient) -> None:
    body = new_user()
    del body["password"]

    response = await client.post("/api/v1/users", json=body)

    assert_problem(response, 422, "validation-failed")


async def test_create_refuses_unknown_fields(client: httpx.AsyncClient, db: Database) -> None:
    response = await client.post("/api/v1/users", json=new_user(nickname="al"))

    problem = assert_problem(response, 422, "validation-failed")
    assert problem["errors"] == [
        {"loc": ["body", "nickname"], "msg": "Extra inputs are not permitted"}
    ]
    assert await db.scalar("SELECT count(*) FROM users") == 0


async def test_create_refuses_server_owned_fields(client: httpx.AsyncClient) -> None:
    for field, value in [
        ("id", 7),
        ("version", 3),
        ("created_at", "2026-01-01T00:00:00Z"),
        ("updated_at", "2026-01-01T00:00:00Z"),
    ]:
        response = await client.post("/api/v1/users", json=new_user(**{field: value}))

        problem = assert_problem(response, 422, "validation-failed")
        assert [error["loc"] for error in problem["errors"]] == [["body", field]]


async def test_create_refuses_null_for_a_field(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/users", json=new_user(password=None, password_hash=BCRYPT_HASH)
    )

    problem = assert_problem(response, 422, "validation-failed")
    assert [error["loc"] for error in problem["errors"]] == [["body", "password"]]


async def test_create_validates_each_field_and_echoes_no_input(
    client: httpx.AsyncClient, db: Database
) -> None:
    cases = {
        "email": ["not-an-email", "a" * 245 + "@example.com", 42],
        "username": ["ab", "a" * 101, "has space", "ünï", ""],
        "password": ["short", "p" * 1025],
    }
    for field, values in cases.items():
        for value in values:
            response = await client.post("/api/v1/users", json=new_user(**{field: value}))

            problem = assert_problem(response, 422, "validation-failed")
            assert [error["loc"] for error in problem["errors"]] == [["body", field]], value
            assert "input" not in problem["errors"][0]
    assert await db.scalar("SELECT count(*) FROM users") == 0


async def test_create_accepts_the_length_limits(client: httpx.AsyncClient) -> None:
    username = "u" * 100
    email = "e" * 64 + "@" + "d" * 60 + ".example.com"
    response = await client.post(
        "/api/v1/users", json=new_user(username=username, email=email, password="p" * 1024)
    )

    assert response.status_code == 201
    assert response.json()["username"] == username


async def test_create_answers_409_on_a_taken_email_whatever_its_case(
    client: httpx.AsyncClient, db: Database
) -> None:
    await client.post("/api/v1/users", json=new_user("alice"))

    response = await client.post(
        "/api/v1/users", json=new_user(username="other", email="ALICE@example.com")
    )

    problem = assert_problem(response, 409, "conflict")
    assert problem["conflicting_field"] == "email"
    assert await db.scalar("SELECT count(*) FROM users") == 1


async def test_create_answers_409_on_a_username_taken_in_another_case(
    client: httpx.AsyncClient, db: Database
) -> None:
    await client.post("/api/v1/users", json=new_user("alice"))

    response = await client.post(
        "/api/v1/users", json=new_user(username="ALICE", email="other@example.com")
    )

    problem = assert_problem(response, 409, "conflict")
    assert problem["conflicting_field"] == "username"
    assert await db.rows("SELECT username FROM users") == [{"username": "alice"}]


async def test_thirty_concurrent_creates_of_one_username_give_one_201_and_29_409(
    client: httpx.AsyncClient, db: Database
) -> None:
    # Imported hashes: thirty argon2 hashes would make this a test of the queue budget too.
    bodies = [
        {"username": "racer", "email": f"racer{i}@example.com", "password_hash": BCRYPT_HASH}
        for i in range(30)
    ]

    responses = await asyncio.gather(*(client.post("/api/v1/users", json=b) for b in bodies))

    statuses = sorted(response.status_code for response in responses)
    assert statuses == [201] + [409] * 29
    assert {r.json()["conflicting_field"] for r in responses if r.status_code == 409} == {
        "username"
    }
    assert await db.scalar("SELECT count(*) FROM users") == 1


async def test_create_answers_with_or_without_a_trailing_slash(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/users/", json=new_user())

    assert response.status_code == 201


async def test_malformed_json_is_400(client: httpx.AsyncClient, db: Database) -> None:
    response = await client.post(
        "/api/v1/users", content=b'{"email": ', headers={"content-type": "application/json"}
    )

    assert_problem(response, 400, "malformed-request")
    assert await db.scalar("SELECT count(*) FROM users") == 0


@pytest.mark.parametrize(
    "body",
    [b"[" * 100_000, b'{"email": "\xff@example.com"}'],
    ids=["nested-too-deep", "not-utf-8"],
)
async def test_json_too_deep_for_the_parser_or_not_utf8_is_malformed_too(
    client: httpx.AsyncClient, db: Database, body: bytes
) -> None:
    response = await client.post(
        "/api/v1/users", content=body, headers={"content-type": "application/json"}
    )

    assert_problem(response, 400, "malformed-request")
    assert await db.scalar("SELECT count(*) FROM users") == 0


async def test_a_non_json_body_is_415(client: httpx.AsyncClient, db: Database) -> None:
    response = await client.post(
        "/api/v1/users",
        content=json.dumps(new_user()).encode(),
        headers={"content-type": "text/plain"},
    )

    assert_problem(response, 415, "unsupported-media-type")
    assert await db.scalar("SELECT count(*) FROM users") == 0


async def test_a_json_body_of_exactly_one_mebibyte_is_accepted(client: httpx.AsyncClient) -> None:
    raw = json.dumps(new_user()).encode()
    body = raw + b" " * (1024 * 1024 - len(raw))

    response = await client.post(
        "/api/v1/users", content=body, headers={"content-type": "application/json"}
    )

    assert response.status_code == 201


async def test_a_body_over_one_mebibyte_is_413(client: httpx.AsyncClient, db: Database) -> None:
    raw = json.dumps(new_user()).encode()
    body = raw + b" " * (1024 * 1024 + 1 - len(raw))

    response = await client.post(
        "/api/v1/users", content=body, headers={"content-type": "application/json"}
    )

    assert_problem(response, 413, "payload-too-large")
    assert await db.scalar("SELECT count(*) FROM users") == 0


async def test_a_chunked_body_over_one_mebibyte_is_413(
    client: httpx.AsyncClient, db: Database
) -> None:
    async def chunks():  # type: ignore[no-untyped-def]
        yield json.dumps(new_user()).encode()
        for _ in range(17):
            yield b" " * 65536

    response = await client.post(
        "/api/v1/users", content=chunks(), headers={"content-type": "application/json"}
    )

    assert "content-length" not in response.request.headers
    assert_problem(response, 413, "payload-too-large")
    assert await db.scalar("SELECT count(*) FROM users") == 0


@pytest.fixture
async def small_limit_client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(make_settings(database_url, max_body_bytes=1024))
    async with app.router.lifespan_context(app), http_client(httpx.ASGITransport(app=app)) as c:
        yield c


@pytest.mark.parametrize("size", [1025, 4096])
async def test_a_body_over_a_lowered_limit_is_413_whatever_path_serves_it(
    small_limit_client: httpx.AsyncClient, db: Database, size: int
) -> None:
    raw = json.dumps(new_user()).encode()
    body = raw + b" " * (size - len(raw))

    response = await small_limit_client.post(
        "/api/v1/users", content=body, headers={"content-type": "application/json"}
    )

    assert_problem(response, 413, "payload-too-large")
    assert await db.scalar("SELECT count(*) FROM users") == 0


async def test_no_log_line_contains_the_password_or_its_hash(
    client: httpx.AsyncClient, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "s3cret-Passw0rd-never-logged"

    await client.post("/api/v1/users", json=new_user("alice", password=secret))
    await client.post("/api/v1/users", json=new_user("alice", password=secret))
    await client.post("/api/v1/users", json=new_user("x", password=secret, nickname="n"))

    stored = await db.scalar("SELECT hashed_password FROM users")
    logged = caplog.text + "".join(repr(record.args) for record in caplog.records)
    assert secret not in logged
    assert stored not in logged


# A plain create is answered in front of FastAPI (api/hot_paths.py); a chunked body is not
# plain, so FastAPI's route answers it. Both must say exactly the same.
async def chunked(body: dict[str, object]) -> AsyncIterator[bytes]:
    yield json.dumps(body).encode()


async def test_a_create_fastapi_answers_is_answered_like_a_plain_one(
    client: httpx.AsyncClient, db: Database
) -> None:
    plain = await client.post("/api/v1/users", json=imported("alice"))
    routed = await client.post(
        "/api/v1/users",
        content=chunked(imported("bob")),
        headers={"Content-Type": "application/json"},
    )

    assert plain.status_code == routed.status_code == 201
    assert set(plain.headers) == set(routed.headers)
    for response, name in ((plain, "alice"), (routed, "bob")):
        body = response.json()
        assert (body["username"], body["version"]) == (name, 1)
        assert response.headers["location"] == f"/api/v1/users/{body['id']}"
        assert response.headers["etag"] == '"1"'
        assert response.headers["content-type"] == "application/json"
    assert await db.rows("SELECT username, hashed_password FROM users ORDER BY id") == [
        {"username": "alice", "hashed_password": BCRYPT_HASH},
        {"username": "bob", "hashed_password": BCRYPT_HASH},
    ]


async def test_a_conflict_fastapi_answers_is_the_same_409_as_a_plain_one(
    client: httpx.AsyncClient, db: Database
) -> None:
    await client.post("/api/v1/users", json=imported("alice"))

    plain = await client.post("/api/v1/users", json=imported("alice"))
    routed = await client.post(
        "/api/v1/users",
        content=chunked(imported("alice")),
        headers={"Content-Type": "application/json"},
    )

    assert_problem(plain, 409, "conflict")
    assert {**routed.json(), "request_id": ""} == {**plain.json(), "request_id": ""}
    assert plain.json()["conflicting_field"] == "email"
    assert await db.scalar("SELECT count(*) FROM users") == 1


def imported(name: str) -> dict[str, object]:
    body = new_user(name, password_hash=BCRYPT_HASH)
    del body["password"]
    return body
