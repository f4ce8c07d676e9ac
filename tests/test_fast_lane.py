"""The fast lane (api/hot_paths.py) answers exactly as FastAPI's routes do.

The same Hypothesis-generated requests (methods, paths, query strings, conditional and
idempotency headers, bodies valid and invalid, around the body limit) go to an app with the
fast lane and to one without (`FAST_LANE=false`), each on its own copy of one database. Every
status, header (but X-Request-ID and Date) and body must be equal, and so must the rows after
each example. Timestamps are the only values the two may differ in: each database stamps its
own rows.
"""

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from db_postgres_service.main import create_app

from .conftest import ThrowAwayDatabases, make_settings
from .helpers import emptying, engine_for, http_client
from .registered import ALL_RESOURCES, Standard, serve_test_resources, standard_resources

BODY_LIMIT = 2048
# Cheap to verify, and outdated: a login with it is re-hashed, as the contract asks.
CHEAP_HASH = (
    "$argon2id$v=19$m=8,t=1,p=1$wNCcUXaDuAOrUri+yId9Zw$87QJAuRuLGAxYboXPrsVezZpO5F+GhgN/FHzxGl5QhA"
)
PASSWORD = "correct horse battery"
SEEDED = ("alice", "Bob", "carol")
SEEDED_ORGANIZATIONS = ("acme", "beta")
IGNORED_HEADERS = {"x-request-id", "date"}
_TIMESTAMP = re.compile(rb'"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?Z"')
_REQUEST_ID = re.compile(rb'"request_id":"[^"]*"')
STANDARD = standard_resources()


@dataclass(frozen=True)
class Pair:
    fast: httpx.AsyncClient
    plain: httpx.AsyncClient
    apps: tuple[FastAPI, FastAPI]
    # The tables a migrated database holds rows in, which a reset keeps.
    seeded: frozenset[str]


@pytest.fixture(scope="module")
async def pair(databases: ThrowAwayDatabases) -> AsyncIterator[Pair]:
    original = await databases.acreate()
    await serve_test_resources(original)
    copy = await databases.acreate(copy_of=original)
    fast = create_app(make_settings(original, max_body_bytes=BODY_LIMIT), ALL_RESOURCES)
    plain = create_app(
        make_settings(copy, max_body_bytes=BODY_LIMIT, fast_lane=False), ALL_RESOURCES
    )
    async with (
        fast.router.lifespan_context(fast),
        plain.router.lifespan_context(plain),
        http_client(httpx.ASGITransport(app=fast)) as fast_client,
        http_client(httpx.ASGITransport(app=plain)) as plain_client,
    ):
        yield Pair(fast_client, plain_client, (fast, plain), databases.seeded)


async def _reset(app: FastAPI, client: httpx.AsyncClient, seeded: frozenset[str]) -> None:
    """The same rows, with the same ids, in each database: three users and two organizations
    with the same times, and two rows of every other resource served from a declaration
    (under the first row of its parent), created through the app."""
    async with engine_for(app).begin() as connection:
        await connection.execute(emptying(seeded))
        for name in SEEDED:
            await connection.execute(
                text(
                    "INSERT INTO users (email, username, hashed_password, created_at, updated_at)"
                    " VALUES (:email, :name, :hash, '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')"
                ),
                {"email": f"{name.lower()}@example.com", "name": name, "hash": CHEAP_HASH},
            )
        for slug in SEEDED_ORGANIZATIONS:
            await connection.execute(
                text(
                    "INSERT INTO organizations (slug, name, created_at, updated_at)"
                    " VALUES (:slug, :slug, '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')"
                ),
                {"slug": slug},
            )
    for resource in STANDARD:
        if resource.served.plural in {"users", "organizations"}:
            continue
        for number in range(2):
            response = await client.post(resource.collection(1), json=resource.body(number))
            assert response.status_code == 201, response.text


async def _rows(app: FastAPI) -> list[Any]:
    async with engine_for(app).begin() as connection:
        users = await connection.execute(
            text(
                "SELECT id, email, username, version, hashed_password LIKE '$argon2id$%' "
                "FROM users ORDER BY id"
            )
        )
        keys = await connection.execute(
            text("SELECT client, route, key, status FROM idempotency_keys ORDER BY key, route")
        )
        rows = [*map(tuple, users), *map(tuple, keys)]
        for resource in STANDARD:
            # Each database stamps its own times; every other column must be equal.
            columns = [
                name for name in resource.served.out.model_fields if not name.endswith("_at")
            ]
            table = resource.served.plural
            read = f"SELECT {', '.join(columns)} FROM {table} ORDER BY id"  # noqa: S608
            rows.extend(map(tuple, await connection.execute(text(read))))
        return rows


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes | None

    def __repr__(self) -> str:
        body = self.body if self.body is None or len(self.body) < 120 else self.body[:120]
        return f"{self.method} {self.path} {self.headers} {body!r}"


NAMES = st.sampled_from(["alice", "ALICE", "Bob", "dave", "eve", "x", "al ice", "dave.2"])
IDS = st.sampled_from(["1", "2", "3", "4", "99", "0", "01", "-1", "+1", "abc", "1e3", "%31"])
ID_LIMITS = st.sampled_from(["9223372036854775807", "9223372036854775808", "1" * 25])
SLASH = st.sampled_from(["", "/"])
TAGS = st.sampled_from(['"1"', '"2"', "*", 'W/"1"', '"1", "2"', "1", '""'])


def _email(name: str) -> str:
    return f"{name.lower()}@example.com"


@st.composite
def user_bodies(draw: st.DrawFn) -> bytes:
    name = draw(NAMES)
    body: dict[str, Any] = {"email": _email(name), "username": name}
    secret = draw(st.sampled_from(["hash", "hash", "hash", "password", "none", "both"]))
    if secret in {"hash", "both"}:
        body["password_hash"] = CHEAP_HASH
    if secret in {"password", "both"}:
        body["password"] = PASSWORD
    variant = draw(st.sampled_from(["as is"] * 6 + ["extra", "null", "array", "broken"]))
    if variant == "extra":
        body["id"] = 7
    elif variant == "null":
        body["email"] = None
    elif variant == "array":
        return b"[]"
    elif variant == "broken":
        return orjson.dumps(body)[:-3]
    return orjson.dumps(body)


@st.composite
def near_the_limit(draw: st.DrawFn) -> bytes:
    """A valid create padded with spaces to just under, at, or just over the body limit."""
    name = draw(NAMES)
    raw = orjson.dumps({"email": _email(name), "username": name, "password_hash": CHEAP_HASH})
    size = BODY_LIMIT + draw(st.integers(min_value=-2, max_value=2))
    return raw + b" " * (size - len(raw))


CONTENT_TYPES = st.sampled_from(
    ["application/json"] * 5
    + ["application/json; charset=utf-8", "text/plain", "application/merge-patch+json", ""]
)


@st.composite
def creates(draw: st.DrawFn) -> Call:
    body = draw(st.one_of(user_bodies(), near_the_limit()))
    headers = {"content-type": draw(CONTENT_TYPES)}
    key = draw(st.sampled_from([None, None, "k1", "k2", ""]))
    if key is not None:
        headers["idempotency-key"] = key
    path = "/api/v1/users" + draw(SLASH) + draw(st.sampled_from(["", "", "?x=1"]))
    return Call("POST", path, headers, body)


@st.composite
def reads(draw: st.DrawFn) -> Call:
    kind = draw(st.sampled_from(["id", "id", "id", "username", "email"]))
    if kind == "id":
        segment = draw(st.one_of(IDS, ID_LIMITS))
        path = f"/api/v1/users/{segment}"
    elif kind == "username":
        path = f"/api/v1/users/by_username/{draw(NAMES)}"
    else:
        path = f"/api/v1/users/by_email/{_email(draw(NAMES))}"
    path += draw(SLASH) + draw(st.sampled_from(["", "", "", "?limit=1"]))
    headers = {}
    if draw(st.booleans()):
        headers["if-none-match"] = draw(TAGS)
    return Call(draw(st.sampled_from(["GET", "GET", "HEAD"])), path, headers, None)


LIMITS = st.sampled_from(["1", "2", "50", "500", "501", "0", "01", "-1", "x", ""])
CURSORS = st.sampled_from(["$last", "$last", "garbage", "a.b", "eyJvIjoiaWQifQ.AAAA"])


SLUGS = st.sampled_from(["acme", "ACME", "beta", "gamma", "a", "-x", "ac me", "x" * 64])


@st.composite
def organization_bodies(draw: st.DrawFn) -> bytes:
    body: dict[str, Any] = {
        "slug": draw(SLUGS),
        "name": draw(st.sampled_from(["Acme", "", "A\tB"])),
    }
    variant = draw(st.sampled_from(["as is"] * 6 + ["extra", "null", "missing", "broken"]))
    if variant == "extra":
        body["version"] = 2
    elif variant == "null":
        body["name"] = None
    elif variant == "missing":
        del body["name"]
    elif variant == "broken":
        return orjson.dumps(body)[:-3]
    return orjson.dumps(body)


@st.composite
def organization_calls(draw: st.DrawFn) -> Call:
    """The organization routes the fast lane takes: create, GET by id and by slug, pages."""
    kind = draw(st.sampled_from(["create", "id", "id", "slug", "page"]))
    base = "/api/v1/organizations"
    if kind == "create":
        headers = {"content-type": draw(CONTENT_TYPES)}
        if draw(st.integers(0, 3)) == 0:
            headers["idempotency-key"] = draw(st.sampled_from(["k1", "k2"]))
        body = draw(organization_bodies())
        return Call("POST", base + draw(SLASH) + draw(st.sampled_from(["", "?x=1"])), headers, body)
    if kind == "page":
        query = draw(
            st.sampled_from(["", "?limit=1", "?limit=1&cursor=$last", "?slug_prefix=a", "?limit=0"])
        )
        return Call("GET", base + draw(SLASH) + query, {}, None)
    segment = draw(st.one_of(IDS, ID_LIMITS)) if kind == "id" else f"by_slug/{draw(SLUGS)}"
    headers = {"if-none-match": draw(TAGS)} if draw(st.booleans()) else {}
    return Call("GET", f"{base}/{segment}{draw(SLASH)}", headers, None)


@st.composite
def pages(draw: st.DrawFn) -> Call:
    parameters = []
    if draw(st.booleans()):
        parameters.append(f"limit={draw(LIMITS)}")
    if draw(st.booleans()):
        parameters.append(f"cursor={draw(CURSORS)}")
    extra = draw(
        st.sampled_from(
            [None] * 4 + ["order=-id", "order=id", "username_prefix=a", "email=bob@example.com"]
        )
    )
    if extra is not None:
        parameters.append(extra)
    if draw(st.integers(0, 9)) == 0:
        parameters.append("limit=2")
    query = "&".join(draw(st.permutations(parameters))) if parameters else ""
    path = "/api/v1/users" + draw(SLASH) + (f"?{query}" if query else "")
    return Call("GET", path, {}, None)


@st.composite
def changes(draw: st.DrawFn) -> Call:
    path = f"/api/v1/users/{draw(IDS)}"
    headers = {}
    if draw(st.booleans()):
        headers["if-match"] = draw(TAGS)
    if draw(st.booleans()):
        return Call("DELETE", path, headers, None)
    name = draw(NAMES)
    body = draw(
        st.sampled_from(
            [{"username": name}, {"email": _email(name)}, {}, {"version": 3}, {"username": None}]
        )
    )
    headers["content-type"] = draw(CONTENT_TYPES)
    return Call("PATCH", path, headers, orjson.dumps(body))


@st.composite
def others(draw: st.DrawFn) -> Call:
    name = draw(NAMES)
    choice = draw(st.sampled_from(["batch", "login", "put", "unknown"]))
    json = {"content-type": "application/json"}
    if choice == "batch":
        items = [{"email": _email(name), "username": name, "password_hash": CHEAP_HASH}] * draw(
            st.integers(1, 2)
        )
        return Call("POST", "/api/v1/users/batch", json, orjson.dumps({"items": items}))
    if choice == "login":
        password = draw(st.sampled_from([PASSWORD, "wrong password"]))
        body = orjson.dumps({"login": name, "password": password})
        return Call("POST", "/api/v1/users/authenticate", json, body)
    if choice == "put":
        return Call("PUT", f"/api/v1/users/{draw(IDS)}", json, b"{}")
    return Call("GET", "/api/v1/users/1/nothing", {}, None)


# Every route the fast lane answers, of every resource, with the resource it belongs to.
HOT_ROUTES: list[tuple[str, APIRoute, Standard]] = [
    (kind, entry.route, standard)
    for resource, standard in (
        (resource, next(each for each in STANDARD if each.served is resource.standard))
        for resource in ALL_RESOURCES
        if resource.standard is not None
    )
    for kind, entries in (
        ("read", resource.hot_reads),
        ("page", resource.hot_pages),
        ("create", resource.hot_creates),
    )
    for entry in entries
]
_PARAMETER = re.compile(r"{(\w+)}")


def _segment(draw: st.DrawFn, name: str, resource: Standard) -> str:
    """A value for a path parameter: an id in every form, or a lookup's field in the forms
    the seeded rows have and others."""
    if name.endswith("_id"):
        return draw(st.one_of(IDS, ID_LIMITS))
    seeded = [str(resource.body(number).get(name, "x")) for number in range(2)]
    return draw(st.sampled_from([*seeded, seeded[0].upper(), "nothing", "a b", "%41"]))


@st.composite
def hot_bodies(draw: st.DrawFn, resource: Standard) -> bytes:
    body: dict[str, Any] = resource.body(draw(st.integers(0, 3)))
    variant = draw(st.sampled_from(["as is"] * 5 + ["extra", "null", "missing", "broken"]))
    field = draw(st.sampled_from(sorted(body)))
    if variant == "extra":
        body["version"] = 2
    elif variant == "null":
        body[field] = None
    elif variant == "missing":
        del body[field]
    elif variant == "broken":
        return orjson.dumps(body)[:-3]
    return orjson.dumps(body)


@st.composite
def hot_calls(draw: st.DrawFn) -> Call:
    """A request for any route the fast lane answers, of any resource, in its plain form or
    near it."""
    kind, route, resource = draw(st.sampled_from(HOT_ROUTES))
    path = _PARAMETER.sub(lambda match: _segment(draw, match[1], resource), route.path_format)
    path += draw(SLASH)
    if kind == "create":
        headers = {"content-type": draw(CONTENT_TYPES)}
        if draw(st.integers(0, 3)) == 0:
            headers["idempotency-key"] = draw(st.sampled_from(["k1", "k2"]))
        body = draw(hot_bodies(resource))
        return Call("POST", path + draw(st.sampled_from(["", "", "?x=1"])), headers, body)
    if kind == "page":
        query = draw(st.sampled_from(["", "?limit=1", "?limit=1&cursor=$last", "?limit=0"]))
        return Call("GET", path + query, {}, None)
    headers = {"if-none-match": draw(TAGS)} if draw(st.booleans()) else {}
    return Call("GET", path + draw(st.sampled_from(["", "", "?limit=1"])), headers, None)


CALLS = st.lists(
    st.one_of(
        creates(), reads(), reads(), pages(), changes(), others(), organization_calls(), hot_calls()
    ),
    min_size=1,
    max_size=6,
)


def _comparable(response: httpx.Response) -> tuple[int, dict[str, str], bytes]:
    headers = {
        name: value for name, value in response.headers.items() if name not in IGNORED_HEADERS
    }
    body = _REQUEST_ID.sub(b'"request_id":"-"', _TIMESTAMP.sub(b'"-"', response.content))
    return response.status_code, headers, body


def _next_cursor(response: httpx.Response) -> str | None:
    if response.status_code != 200 or not response.content.startswith(b'{"items"'):
        return None
    cursor: str | None = response.json().get("next_cursor")
    return cursor


async def _send(client: httpx.AsyncClient, call: Call, cursor: str) -> httpx.Response:
    path = call.path.replace("$last", cursor)
    return await client.request(call.method, path, headers=call.headers, content=call.body)


@settings(
    max_examples=120,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(calls=CALLS)
async def test_the_fast_lane_answers_as_fastapi_s_routes_do(pair: Pair, calls: list[Call]) -> None:
    for app, client in zip(pair.apps, (pair.fast, pair.plain), strict=True):
        await _reset(app, client, pair.seeded)
    # The last next_cursor of a page in the default order: the same in both databases.
    cursor = "none.yet"
    for call in calls:
        fast = await _send(pair.fast, call, cursor)
        plain = await _send(pair.plain, call, cursor)

        assert _comparable(fast) == _comparable(plain), call
        assert fast.status_code < 500, (call, fast.text)
        if "order=" not in call.path:
            cursor = _next_cursor(fast) or cursor
    assert await _rows(pair.apps[0]) == await _rows(pair.apps[1])
