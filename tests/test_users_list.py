"""GET /api/v1/users: keyset pagination, orders, filters and verifiable cursors."""

import base64
from datetime import datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import DateTime, bindparam, text

from db_postgres_service.core.keyset import PageOrder, page_sql
from db_postgres_service.main import create_app
from db_postgres_service.users.routes import USERS

from .conftest import ThrowAwayDatabases, make_settings
from .helpers import assert_problem, create, engine_for, http_client

ORDERS = ["id", "-id", "created_at", "-created_at"]
# Lists are read here of many users seeded by SQL, faster than creating each through the API.
pytestmark = pytest.mark.writes_around_the_service


_INSERT_USERS = text(
    "INSERT INTO users (email, username, hashed_password, created_at, updated_at) "
    "SELECT :p || n || '@example.com', :p || n, 'x', coalesce(:at, now()), coalesce(:at, now()) "
    "FROM generate_series(1, :count) AS n"
).bindparams(bindparam("at", type_=DateTime(timezone=True)))


async def insert_users(
    app: FastAPI, count: int, *, prefix: str = "user", at: str | None = None
) -> None:
    """Many rows at once, straight into the table (the HTTP path hashes each password)."""
    moment = datetime.fromisoformat(at) if at else None
    async with engine_for(app).begin() as connection:
        await connection.execute(_INSERT_USERS, {"p": prefix, "count": count, "at": moment})


async def walk(client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    """Every item of every page, following next_cursor to the end."""
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = await client.get("/api/v1/users", params=query)
        assert response.status_code == 200, response.text
        page = response.json()
        items.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return items


def expected_order(users: list[dict[str, Any]], order: str) -> list[int]:
    key = (lambda u: (u["created_at"], u["id"])) if "created_at" in order else (lambda u: u["id"])
    return [u["id"] for u in sorted(users, key=key, reverse=order.startswith("-"))]


async def test_an_empty_table_gives_an_empty_last_page(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/users")

    assert response.status_code == 200
    assert response.json() == {"items": [], "next_cursor": None}


async def test_the_default_page_is_fifty_users_by_id(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    await insert_users(app, 60)

    page = (await client.get("/api/v1/users")).json()

    assert [user["id"] for user in page["items"]] == list(range(1, 51))
    assert page["next_cursor"] is not None
    assert set(page["items"][0]) == {
        "id",
        "email",
        "username",
        "created_at",
        "updated_at",
        "version",
    }


async def test_a_full_last_page_has_no_cursor(client: httpx.AsyncClient, app: FastAPI) -> None:
    await insert_users(app, 4)

    page = (await client.get("/api/v1/users", params={"limit": 4})).json()

    assert len(page["items"]) == 4
    assert page["next_cursor"] is None


@pytest.mark.parametrize("limit", ["0", "501", "-1", "ten"])
async def test_a_limit_outside_1_to_500_is_422(client: httpx.AsyncClient, limit: str) -> None:
    response = await client.get("/api/v1/users", params={"limit": limit})

    problem = assert_problem(response, 422, "validation-failed")
    assert [error["loc"] for error in problem["errors"]] == [["query", "limit"]]


async def test_an_unknown_order_is_422(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/users", params={"order": "email"})

    problem = assert_problem(response, 422, "validation-failed")
    assert [error["loc"] for error in problem["errors"]] == [["query", "order"]]


@pytest.mark.parametrize("order", ORDERS)
async def test_walking_every_page_returns_every_user_once_in_order(
    client: httpx.AsyncClient, order: str
) -> None:
    users = [await create(client, name=f"walker{i}") for i in range(7)]

    items = await walk(client, order=order, limit=2)

    assert [user["id"] for user in items] == expected_order(users, order)


@pytest.mark.parametrize("order", ["created_at", "-created_at"])
async def test_ties_on_created_at_are_broken_by_id_in_the_same_direction(
    client: httpx.AsyncClient, app: FastAPI, order: str
) -> None:
    await insert_users(app, 9, at="2026-01-01T00:00:00Z")

    items = await walk(client, order=order, limit=2)

    ids = list(range(1, 10))
    assert [user["id"] for user in items] == (ids if order == "created_at" else ids[::-1])


@pytest.mark.parametrize("order", ORDERS)
async def test_rows_present_throughout_a_walk_are_seen_once_despite_inserts_and_deletes(
    client: httpx.AsyncClient, app: FastAPI, order: str
) -> None:
    await insert_users(app, 30, prefix="old")
    before = (await client.get("/api/v1/users", params={"limit": 500})).json()["items"]
    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        params = {"order": order, "limit": 4, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/api/v1/users", params=params)).json()
        seen.extend(user["id"] for user in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
        pages += 1
        # Between pages: a newcomer arrives and an earlier newcomer leaves.
        await create(client, name=f"new{pages}")
        async with engine_for(app).begin() as connection:
            await connection.execute(
                text("DELETE FROM users WHERE username = :u"), {"u": f"new{pages - 1}"}
            )

    old_ids = set(expected_order(before, order))
    seen_old = [user_id for user_id in seen if user_id in old_ids]
    assert seen_old == expected_order(before, order)
    assert len(seen) == len(set(seen))


async def test_the_email_filter_is_exact_and_case_insensitive(client: httpx.AsyncClient) -> None:
    alice = await create(client, name="alice")
    await create(client, name="alice2")

    page = (await client.get("/api/v1/users", params={"email": "ALICE@example.com"})).json()

    assert page["items"] == [alice]


async def test_the_username_filter_is_exact_and_case_insensitive(
    client: httpx.AsyncClient,
) -> None:
    bob = await create(client, name="bob", username="Bob")
    await create(client, name="bobby")

    page = (await client.get("/api/v1/users", params={"username": "BOB"})).json()

    assert page["items"] == [bob]


async def test_the_username_prefix_filter_is_case_insensitive(client: httpx.AsyncClient) -> None:
    first = await create(client, name="a1", username="Carol.A")
    second = await create(client, name="a2", username="carol_b")
    await create(client, name="a3", username="xcarol")

    page = (await client.get("/api/v1/users", params={"username_prefix": "CAROL"})).json()

    assert page["items"] == [first, second]


@pytest.mark.parametrize(("prefix", "expected"), [("a_", ["a_b"]), ("a%", []), ("a.", ["a.b"])])
async def test_the_username_prefix_treats_like_wildcards_as_plain_characters(
    client: httpx.AsyncClient, prefix: str, expected: list[str]
) -> None:
    for name in ["a_b", "axb", "a.b", "abc"]:
        await create(client, name=name.replace(".", "dot").replace("_", "us"), username=name)

    page = (await client.get("/api/v1/users", params={"username_prefix": prefix})).json()

    assert [user["username"] for user in page["items"]] == expected


async def test_the_username_prefix_treats_a_backslash_as_a_plain_character(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    # Usernames cannot contain a backslash through the API; one written by another tool can.
    async with engine_for(app).begin() as connection:
        await connection.execute(
            text(
                "INSERT INTO users (email, username, hashed_password) VALUES "
                "('b1@example.com', 'x\\y', 'h'), ('b2@example.com', 'xy', 'h')"
            )
        )

    page = (await client.get("/api/v1/users", params={"username_prefix": "x\\"})).json()

    assert [user["username"] for user in page["items"]] == ["x\\y"]


async def test_created_after_and_before_are_exclusive(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    for day in ["01", "02", "03", "04"]:
        await insert_users(app, 1, prefix=f"d{day}-", at=f"2026-03-{day}T00:00:00Z")

    page = (
        await client.get(
            "/api/v1/users",
            params={
                "created_after": "2026-03-01T00:00:00Z",
                "created_before": "2026-03-04T00:00:00Z",
            },
        )
    ).json()

    assert [user["username"] for user in page["items"]] == ["d02-1", "d03-1"]


async def test_a_timestamp_without_offset_is_422(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/users", params={"created_after": "2026-03-01T00:00:00"})

    problem = assert_problem(response, 422, "validation-failed")
    assert [error["loc"] for error in problem["errors"]] == [["query", "created_after"]]


async def test_filters_apply_on_every_page(client: httpx.AsyncClient, app: FastAPI) -> None:
    await insert_users(app, 12, prefix="keep")
    await insert_users(app, 12, prefix="drop")

    items = await walk(client, username_prefix="keep", limit=5)

    assert len(items) == 12
    assert all(user["username"].startswith("keep") for user in items)


async def first_cursor(client: httpx.AsyncClient, app: FastAPI, **params: Any) -> str:
    await insert_users(app, 5)
    page = (await client.get("/api/v1/users", params={"limit": 2, **params})).json()
    cursor: str = page["next_cursor"]
    return cursor


def tamper(cursor: str) -> str:
    body, signature = cursor.split(".")
    payload = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    forged = payload.replace(b'"k":[2,', b'"k":[4,')
    assert forged != payload
    return base64.urlsafe_b64encode(forged).rstrip(b"=").decode() + "." + signature


@pytest.mark.parametrize(
    ("label", "mangle", "params"),
    [
        ("forged", tamper, {}),
        ("truncated", lambda c: c[:-5], {}),
        ("garbage", lambda c: "not a cursor", {}),
        ("no signature", lambda c: c.split(".")[0], {}),
        ("other order", lambda c: c, {"order": "-id"}),
        ("other filters", lambda c: c, {"username_prefix": "user"}),
    ],
)
async def test_a_cursor_that_was_not_issued_for_this_query_is_422(
    client: httpx.AsyncClient, app: FastAPI, label: str, mangle: Any, params: dict[str, str]
) -> None:
    cursor = mangle(await first_cursor(client, app))

    response = await client.get("/api/v1/users", params={"limit": 2, "cursor": cursor, **params})

    problem = assert_problem(response, 422, "validation-failed")
    assert [error["loc"] for error in problem["errors"]] == [["query", "cursor"]], label


async def test_a_cursor_is_honoured_with_the_same_order_and_filters(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    cursor = await first_cursor(client, app, order="-id")

    page = (
        await client.get("/api/v1/users", params={"limit": 2, "order": "-id", "cursor": cursor})
    ).json()

    assert [user["id"] for user in page["items"]] == [3, 2]


@pytest.mark.parametrize("order", list(PageOrder))
async def test_the_list_query_uses_an_index_for_every_order(
    client: httpx.AsyncClient, app: FastAPI, order: PageOrder
) -> None:
    await insert_users(app, 20000, prefix="bulk")
    assert USERS.standard is not None
    statement = page_sql(USERS.standard.reads.shape, order, frozenset(), True)
    async with engine_for(app).begin() as connection:
        await connection.execute(text("ANALYZE users"))
        created_at = (
            await connection.execute(text("SELECT created_at FROM users LIMIT 1"))
        ).scalar()
        values = {"after_id": 10000, "after_created_at": created_at, "limit": 51}
        driver = await connection.get_raw_connection()
        rows = await driver.driver_connection.fetch(  # type: ignore[union-attr]
            f"EXPLAIN {statement.sql}", *statement.arguments(values)
        )
        plan = "\n".join(row[0] for row in rows)

    index = "ix_users_created_at_id" if order.by_creation else "pk_users"
    assert f"Index Scan{' Backward' if order.descending else ''} using {index}" in plan, plan
    assert "Sort" not in plan, plan


async def test_a_filter_holding_a_nul_character_matches_nothing(
    client: httpx.AsyncClient,
) -> None:
    await create(client, name="alice")

    response = await client.get("/api/v1/users", params={"username_prefix": "al\x00"})

    assert response.json() == {"items": [], "next_cursor": None}


@pytest.mark.parametrize("value", ["0.5", "1700000000", "2024-01-01 00:00:00Z", "2024-01-01"])
async def test_a_timestamp_filter_must_be_rfc_3339_text(
    client: httpx.AsyncClient, value: str
) -> None:
    response = await client.get("/api/v1/users", params={"created_before": value})

    problem = assert_problem(response, 422, "validation-failed")
    assert [error["loc"] for error in problem["errors"]] == [["query", "created_before"]]


async def test_an_unknown_query_parameter_is_422(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/users", params={"username_prefx": "al"})

    problem = assert_problem(response, 422, "validation-failed")
    assert problem["errors"] == [
        {"loc": ["query", "username_prefx"], "msg": "unknown query parameter"}
    ]


# A page asked for with `limit` and `cursor` alone is answered in front of FastAPI
# (api/hot_paths.py); any other spelling goes to FastAPI's route. Both must say the same.
async def test_a_page_fastapi_answers_is_the_same_as_the_plain_one(
    client: httpx.AsyncClient,
) -> None:
    for name in ("alice", "bob", "carol"):
        await create(client, name=name)

    first = await client.get("/api/v1/users?limit=2")
    routed_first = await client.get("/api/v1/users?limit=02&order=id")
    cursor = first.json()["next_cursor"]
    second = await client.get(f"/api/v1/users?limit=2&cursor={cursor}")
    routed_second = await client.get(f"/api/v1/users?order=id&cursor={cursor}&limit=2")

    assert first.status_code == routed_first.status_code == 200
    assert first.content == routed_first.content
    assert [user["username"] for user in first.json()["items"]] == ["alice", "bob"]
    assert second.content == routed_second.content
    assert second.json()["items"][0]["username"] == "carol"
    assert first.headers["content-type"] == routed_first.headers["content-type"]


async def test_a_forged_cursor_is_the_same_422_on_both_paths(client: httpx.AsyncClient) -> None:
    forged = "eyJvIjoiaWQifQ.AAAAAAAAAAAAAAAAAAAAAA"

    plain = await client.get(f"/api/v1/users?cursor={forged}")
    routed = await client.get(f"/api/v1/users?order=id&cursor={forged}")

    assert_problem(plain, 422, "validation-failed")
    assert {**routed.json(), "request_id": ""} == {**plain.json(), "request_id": ""}


@pytest.mark.parametrize("limit", ["0", "501", "1000"])
async def test_a_limit_out_of_range_is_422_even_in_a_plain_query(
    client: httpx.AsyncClient, limit: str
) -> None:
    response = await client.get(f"/api/v1/users?limit={limit}")

    assert_problem(response, 422, "validation-failed")


# Fractions PostgreSQL prints trimmed (or not at all) and orjson prints as six digits.
_EDGE_TIMESTAMPS = [
    "2026-11-26T03:00:00Z",
    "2026-11-26T03:00:00.100000Z",
    "2026-11-26T03:00:00.120000Z",
    "2026-11-26T03:00:00.000001Z",
    "2026-11-26T03:00:00.123456Z",
    "0099-01-02T03:04:05.500000Z",
]


async def set_timestamps(app: FastAPI, user_id: int, at: str) -> None:
    async with engine_for(app).begin() as connection:
        await connection.execute(
            text("UPDATE users SET created_at = :at, updated_at = :at WHERE id = :id").bindparams(
                bindparam("at", type_=DateTime(timezone=True))
            ),
            {"at": datetime.fromisoformat(at), "id": user_id},
        )


async def test_a_page_writes_timestamps_exactly_as_a_single_user_read_does(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    users = [await create(client, name=f"edge{index}") for index in range(len(_EDGE_TIMESTAMPS))]
    for user, at in zip(users, _EDGE_TIMESTAMPS, strict=True):
        await set_timestamps(app, user["id"], at)

    page = (await client.get("/api/v1/users")).json()

    singles = [(await client.get(f"/api/v1/users/{user['id']}")).json() for user in users]
    assert page["items"] == singles
    assert [item["created_at"] for item in page["items"]] == _EDGE_TIMESTAMPS


async def test_a_cursor_after_a_whole_second_keeps_its_place_in_creation_order(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    users = [await create(client, name=f"tick{index}") for index in range(3)]
    for user, at in zip(users, _EDGE_TIMESTAMPS[:3], strict=True):
        await set_timestamps(app, user["id"], at)

    items = await walk(client, order="created_at", limit=1)

    assert [item["created_at"] for item in items] == _EDGE_TIMESTAMPS[:3]


async def test_a_page_ignores_the_date_style_and_time_zone_set_on_the_database(
    databases: ThrowAwayDatabases,
) -> None:
    url = await databases.acreate()
    app = create_app(make_settings(url))
    async with app.router.lifespan_context(app):
        async with engine_for(app).begin() as connection:
            database = await connection.scalar(text("SELECT current_database()"))
            await connection.execute(
                text(f"ALTER DATABASE \"{database}\" SET DateStyle = 'SQL, DMY'")
            )
            await connection.execute(
                text(f"ALTER DATABASE \"{database}\" SET TimeZone = 'Asia/Kolkata'")
            )
        await engine_for(app).dispose()
        async with http_client(httpx.ASGITransport(app=app)) as client:
            user = await create(client)
            await set_timestamps(app, user["id"], "2026-11-26T03:00:00.120000Z")

            page = (await client.get("/api/v1/users")).json()

    assert page["items"] == [
        {
            **user,
            "created_at": "2026-11-26T03:00:00.120000Z",
            "updated_at": "2026-11-26T03:00:00.120000Z",
        }
    ]
