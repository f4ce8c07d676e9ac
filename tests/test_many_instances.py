"""Two `serve` processes on one database agree with no coordination beyond PostgreSQL: a cursor,
an ETag or an Idempotency-Key one of them issued works on the other, a revoked key is refused
by both within 5 s, and a write through one wakes a long poll of the change feed on the other
(CONTRACT.md, "Running as many instances").

Each instance runs one worker, so that one request to it is known to fill the only cache of
API-key verdicts it has. Migrating from several processes at once is proven by
test_migrations.py::test_instances_migrating_at_once_all_succeed (`serve --migrate` runs the
same upgrade as `migrate`).
"""

import asyncio
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from .conftest import ThrowAwayDatabases
from .helpers import assert_problem, asyncpg_dsn
from .serving import AUTH, run_cli, serving

USERS = "/api/v1/users"
EVENTS = "/api/v1/events"
REVOCATION_SECONDS = 5.0  # CONTRACT.md: a revoked key is refused within 5 s on every instance
LONG_POLL_SECONDS = 30
# How soon after a write the other instance answers a waiting long poll: its watch looks
# every 100 ms by default; the rest is slack for a slow, shared machine, far below the wait.
WAKE_SECONDS = 2.0
# How long a long poll is given to reach its instance and wait there before the write.
PARK_SECONDS = 1.0


@dataclass(frozen=True)
class Instances:
    database_url: str
    a: httpx.Client
    b: httpx.Client


@pytest.fixture(scope="module")
def instances(databases: ThrowAwayDatabases) -> Iterator[Instances]:
    url = databases.create()
    with ExitStack() as stack:
        clients = []
        for _ in range(2):
            service = stack.enter_context(serving(url, WEB_CONCURRENCY="1"))
            clients.append(stack.enter_context(httpx.Client(base_url=service.base_url, timeout=60)))
        yield Instances(url, *clients)


def new_user(prefix: str = "u") -> dict[str, str]:
    name = f"{prefix}{uuid.uuid4().hex[:12]}"
    return {"email": f"{name}@example.com", "username": name, "password": "correct horse"}


def created(through: httpx.Client, body: dict[str, str] | None = None) -> dict[str, Any]:
    response = through.post(USERS, json=body or new_user(), headers=AUTH)
    assert response.status_code == 201, response.text
    user: dict[str, Any] = response.json()
    return user


def fetch(database_url: str, sql: str, *arguments: object) -> list[dict[str, Any]]:
    async def run() -> list[dict[str, Any]]:
        connection = await asyncpg.connect(asyncpg_dsn(database_url))
        try:
            return [dict(row) for row in await connection.fetch(sql, *arguments)]
        finally:
            await connection.close()

    return asyncio.run(run())


def test_a_list_cursor_from_one_instance_continues_on_the_other(instances: Instances) -> None:
    prefix = f"c{uuid.uuid4().hex[:8]}-"
    ids = [created(instances.a, new_user(prefix))["id"] for _ in range(5)]
    query: dict[str, Any] = {"limit": 2, "order": "-id", "username_prefix": prefix}

    first = instances.a.get(USERS, params=query, headers=AUTH)
    cursor = first.json()["next_cursor"]
    second_on_b = instances.b.get(USERS, params={**query, "cursor": cursor}, headers=AUTH)
    second_on_a = instances.a.get(USERS, params={**query, "cursor": cursor}, headers=AUTH)
    last_on_b = instances.b.get(
        USERS, params={**query, "cursor": second_on_b.json()["next_cursor"]}, headers=AUTH
    )

    assert [first.status_code, second_on_b.status_code, last_on_b.status_code] == [200] * 3
    assert second_on_b.json() == second_on_a.json()
    pages = [first.json(), second_on_b.json(), last_on_b.json()]
    assert [[user["id"] for user in page["items"]] for page in pages] == [
        ids[4:2:-1],
        ids[2:0:-1],
        ids[:1],
    ]
    assert last_on_b.json()["next_cursor"] is None


def test_an_etag_from_one_instance_is_honoured_by_the_other(instances: Instances) -> None:
    user = created(instances.a)
    path = f"{USERS}/{user['id']}"
    on_a = instances.a.get(path, headers=AUTH)

    unchanged = instances.b.get(path, headers={**AUTH, "If-None-Match": on_a.headers["etag"]})
    renamed = new_user()["username"]
    changed = instances.a.patch(
        path, json={"username": renamed}, headers={**AUTH, "If-Match": on_a.headers["etag"]}
    )
    stale = instances.b.patch(
        path, json={"username": new_user()["username"]}, headers={**AUTH, "If-Match": '"1"'}
    )
    fresh = instances.b.get(path, headers={**AUTH, "If-None-Match": '"1"'})

    assert on_a.headers["etag"] == '"1"'
    assert (unchanged.status_code, unchanged.headers["etag"], unchanged.content) == (
        304,
        '"1"',
        b"",
    )
    assert (changed.status_code, changed.headers["etag"]) == (200, '"2"')
    assert_problem(stale, 412, "precondition-failed")
    assert (fresh.status_code, fresh.headers["etag"], fresh.json()) == (200, '"2"', changed.json())
    assert fetch(
        instances.database_url, "SELECT username, version FROM users WHERE id = $1", user["id"]
    ) == [{"username": renamed, "version": 2}]


def test_an_idempotency_key_stored_through_one_instance_replays_through_the_other(
    instances: Instances,
) -> None:
    body = new_user()
    key = f"many-instances-{uuid.uuid4().hex}"

    first = instances.a.post(
        USERS, json=body, headers={**AUTH, "Idempotency-Key": key, "X-Request-ID": "first-on-a"}
    )
    retry = instances.b.post(
        USERS, json=body, headers={**AUTH, "Idempotency-Key": key, "X-Request-ID": "retry-on-b"}
    )
    other_body = instances.b.post(USERS, json=new_user(), headers={**AUTH, "Idempotency-Key": key})

    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    assert retry.status_code == 201
    assert retry.content == first.content
    assert retry.headers["idempotent-replayed"] == "true"
    assert retry.headers["x-request-id"] == "retry-on-b"
    for name in ("content-type", "location", "etag"):
        assert retry.headers[name] == first.headers[name], name
    problem = assert_problem(other_body, 422, "validation-failed")
    assert problem["errors"] == [
        {"loc": ["header", "Idempotency-Key"], "msg": "reused with a different body"}
    ]
    assert fetch(
        instances.database_url, "SELECT id FROM users WHERE email = $1", body["email"]
    ) == [{"id": first.json()["id"]}]
    assert fetch(
        instances.database_url, "SELECT client, status FROM idempotency_keys WHERE key = $1", key
    ) == [{"client": "tests", "status": 201}]


def test_one_key_sent_to_both_instances_at_once_creates_once(instances: Instances) -> None:
    body = new_user()
    key = f"many-instances-{uuid.uuid4().hex}"
    headers = {**AUTH, "Idempotency-Key": key}
    with ThreadPoolExecutor(8) as pool:
        sent = [
            pool.submit(client.post, USERS, json=body, headers=headers)
            for _ in range(4)
            for client in (instances.a, instances.b)
        ]
        responses = [future.result() for future in sent]

    firsts = [
        r for r in responses if r.status_code == 201 and "idempotent-replayed" not in r.headers
    ]
    replays = [r for r in responses if r.headers.get("idempotent-replayed") == "true"]
    in_flight = [r for r in responses if r.status_code == 409]
    assert len(firsts) == 1, [r.text for r in responses]
    assert len(firsts) + len(replays) + len(in_flight) == len(responses)
    assert {(r.status_code, r.content) for r in replays} <= {(201, firsts[0].content)}
    for response in in_flight:
        assert_problem(response, 409, "idempotency-key-in-flight")
    assert fetch(
        instances.database_url, "SELECT id FROM users WHERE email = $1", body["email"]
    ) == [{"id": firsts[0].json()["id"]}]
    assert fetch(
        instances.database_url, "SELECT status FROM idempotency_keys WHERE key = $1", key
    ) == [{"status": 201}]


def test_a_revoked_key_is_refused_by_every_instance_within_5_seconds(
    instances: Instances,
) -> None:
    name = f"leaving-{uuid.uuid4().hex[:8]}"
    anywhere = Path(tempfile.gettempdir())
    made = run_cli(
        "clients",
        "create",
        name,
        "--scope",
        "users:read",
        cwd=anywhere,
        DATABASE_URL=instances.database_url,
    )
    assert made.returncode == 0, made.stderr
    key = {"Authorization": f"Bearer {made.stdout.strip()}"}
    both = (instances.a, instances.b)
    # Accepted, and so cached, by each instance's only worker just before the revocation.
    assert [client.get(USERS, headers=key).status_code for client in both] == [200, 200]

    revoked = run_cli("clients", "revoke", name, cwd=anywhere, DATABASE_URL=instances.database_url)
    revoked_at = time.monotonic()
    refused_after: list[float] = []
    for client in both:
        while client.get(USERS, headers=key).status_code == 200:
            assert time.monotonic() - revoked_at < REVOCATION_SECONDS, "still accepted after 5 s"
            time.sleep(0.1)
        refused_after.append(round(time.monotonic() - revoked_at, 2))

    assert (revoked.returncode, revoked.stdout, revoked.stderr) == (
        0,
        f"Revoked 1 key(s) of '{name}'.\n",
        "",
    )
    assert max(refused_after) < REVOCATION_SECONDS, refused_after
    for client in both:
        refused = client.get(USERS, headers=key)
        assert_problem(refused, 401, "unauthorized")
        assert refused.headers["www-authenticate"].lower().startswith("bearer")


def end_of_feed(client: httpx.Client) -> str:
    """The cursor after the newest event the feed serves now."""
    params: dict[str, Any] = {"limit": 1000}
    while True:
        response = client.get(EVENTS, params=params, headers=AUTH)
        assert response.status_code == 200, response.text
        page = response.json()
        if not page["items"]:
            cursor: str = page["next_cursor"]
            return cursor
        params["after"] = page["next_cursor"]


def test_a_write_through_one_instance_wakes_a_long_poll_on_the_other(
    instances: Instances,
) -> None:
    cursor = end_of_feed(instances.b)
    with ThreadPoolExecutor(1) as pool:
        polled_at = time.monotonic()
        waiting = pool.submit(
            instances.b.get,
            EVENTS,
            params={"after": cursor, "wait": LONG_POLL_SECONDS},
            headers=AUTH,
        )
        # Time for the poll to reach B and wait there: a poll that came after the write would
        # be answered at once without proving that the write wakes it.
        time.sleep(PARK_SECONDS)
        assert not waiting.done(), waiting.result().text
        user = created(instances.a)
        written_at = time.monotonic()
        answer = waiting.result(timeout=LONG_POLL_SECONDS + 30)
        answered_at = time.monotonic()

    assert answer.status_code == 200, answer.text
    items = answer.json()["items"]
    assert [(event["type"], event["subject"], event["actor"]) for event in items] == [
        ("user.created", f"users/{user['id']}", "tests")
    ]
    assert items[0]["data"] == user
    assert answered_at - written_at < WAKE_SECONDS
    assert answered_at - polled_at >= PARK_SECONDS
