"""An operator's hard limit on a client's requests in flight: set with `clients create
--max-in-flight` or `clients limit`, split among an instance's workers, applied within 5 s."""

import asyncio
import tempfile
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import asyncpg
import httpx
import pytest
from sqlalchemy import text

from db_postgres_service.api.authentication import CACHE_SECONDS
from db_postgres_service.main import create_app

from .conftest import ThrowAwayDatabases, make_settings
from .helpers import TEST_API_KEY, asyncpg_dsn, engine_for, sample
from .serving import new_user_through, row_locked, run_cli, serving

ANYWHERE = Path(tempfile.gettempdir())
LOCK_SECONDS = 3.0


def cli(database_url: str, *arguments: str) -> tuple[int, str, str]:
    done = run_cli(*arguments, cwd=ANYWHERE, DATABASE_URL=database_url)
    return done.returncode, done.stdout, done.stderr


def new_client(database_url: str, *options: str) -> tuple[str, str]:
    """A new client's name and key, allowed to read and write users."""
    name = f"batch-{uuid.uuid4().hex[:8]}"
    code, key, error = cli(
        database_url,
        "clients",
        "create",
        name,
        "--scope",
        "users:read",
        "--scope",
        "users:write",
        *options,
    )
    assert code == 0, error
    return name, key.strip()


def listed_limit(database_url: str, name: str) -> str:
    code, listed, error = cli(database_url, "clients", "list")
    assert code == 0, error
    return next(line for line in listed.splitlines() if line.startswith(f"{name}\t")).split("\t")[
        -1
    ]


def backends_waiting_for_a_lock(database_url: str) -> int:
    async def count() -> int:
        connection = await asyncpg.connect(asyncpg_dsn(database_url))
        try:
            waiting: int = await connection.fetchval(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            return waiting
        finally:
            await connection.close()

    return asyncio.run(count())


def test_create_with_max_in_flight_sets_the_client_s_limit(database_url: str) -> None:
    name, _ = new_client(database_url, "--max-in-flight", "4")

    assert listed_limit(database_url, name) == "max 4 in flight"


def test_a_client_created_without_a_limit_has_none(database_url: str) -> None:
    name, _ = new_client(database_url)

    assert listed_limit(database_url, name) == "no limit"


def test_limit_sets_and_unlimited_removes_a_client_s_limit(database_url: str) -> None:
    name, _ = new_client(database_url)

    limited = cli(database_url, "clients", "limit", name, "--max-in-flight", "3")
    limit_after_setting = listed_limit(database_url, name)
    freed = cli(database_url, "clients", "limit", name, "--unlimited")

    assert limited == (0, f"'{name}' may have at most 3 requests in flight per instance.\n", "")
    assert limit_after_setting == "max 3 in flight"
    assert freed == (0, f"'{name}' has no limit of requests in flight now.\n", "")
    assert listed_limit(database_url, name) == "no limit"


def test_a_rotated_key_keeps_the_client_s_limit(database_url: str) -> None:
    name, _ = new_client(database_url, "--max-in-flight", "5")

    code, _, error = cli(database_url, "clients", "create", name, "--scope", "users:read")

    assert code == 0, error
    assert listed_limit(database_url, name) == "max 5 in flight"


def test_limit_of_a_client_without_an_active_key_fails_and_changes_nothing(
    database_url: str,
) -> None:
    assert cli(database_url, "clients", "limit", "nobody", "--max-in-flight", "2") == (
        1,
        "",
        "No active key of 'nobody'.\n",
    )


@pytest.mark.parametrize("options", [[], ["--max-in-flight", "2", "--unlimited"]])
def test_limit_needs_exactly_one_of_a_number_and_unlimited(
    database_url: str, options: list[str]
) -> None:
    name, _ = new_client(database_url, "--max-in-flight", "7")

    result = cli(database_url, "clients", "limit", name, *options)

    assert result == (1, "", "Give exactly one of --max-in-flight N and --unlimited.\n")
    assert listed_limit(database_url, name) == "max 7 in flight"


def test_a_limit_below_one_is_refused_by_the_command(database_url: str) -> None:
    name, _ = new_client(database_url)

    code, _, error = cli(database_url, "clients", "limit", name, "--max-in-flight", "0")

    assert code == 2
    assert "--max-in-flight" in error
    assert listed_limit(database_url, name) == "no limit"


def test_a_client_limited_to_2_never_has_more_than_2_requests_in_progress_on_two_workers(
    database_url: str,
) -> None:
    name, key = new_client(database_url, "--max-in-flight", "2")
    with serving(database_url, WEB_CONCURRENCY="2") as service:
        user = new_user_through(service)
        url = f"{service.base_url}/api/v1/users/{user['id']}"
        headers = {"Authorization": f"Bearer {key}"}
        with row_locked(database_url, user["id"], LOCK_SECONDS), ThreadPoolExecutor(12) as pool:
            # Each on its own connection, so that both workers get some.
            patches = [
                pool.submit(
                    httpx.patch, url, json={"username": f"u{n}-{user['id']}"}, headers=headers
                )
                for n in range(12)
            ]
            time.sleep(1.0)
            in_progress = backends_waiting_for_a_lock(database_url)
            metrics = httpx.get(f"{service.base_url}/metrics").text
            responses = [patch.result(timeout=30) for patch in patches]

    statuses = Counter(response.status_code for response in responses)
    assert 1 <= in_progress <= 2
    assert sample(metrics, "client_requests_in_flight", client=name) == in_progress
    assert statuses == {200: in_progress, 429: 12 - in_progress}
    refusal = next(response for response in responses if response.status_code == 429)
    assert refusal.headers["retry-after"] == "1"
    assert refusal.json()["type"] == "https://db-postgres-service/problems/too-many-requests"
    assert refusal.json()["detail"] == (
        f"Over its own limit: the client '{name}' already has 1 request(s) in flight on this "
        "worker, its part of the client's max-in-flight; the request was not executed."
    )
    assert sample(metrics, "client_requests_refused_total", client=name, reason="over_limit") == (
        12 - in_progress
    )


async def test_a_changed_limit_applies_within_the_cache_time(
    databases: ThrowAwayDatabases,
) -> None:
    database_url = await databases.acreate()
    name, key = await asyncio.to_thread(new_client, database_url)
    # Long enough a statement timeout for a PATCH held on a lock while the limit comes in.
    app = create_app(make_settings(database_url, db_statement_timeout_ms=30_000))
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://test") as http,
    ):
        created = await http.post(
            "/api/v1/users",
            json={"email": "a@example.com", "username": "alice", "password": "12345678"},
            headers={"Authorization": f"Bearer {TEST_API_KEY}"},
        )
        user_id = created.json()["id"]
        path = f"/api/v1/users/{user_id}"
        headers = {"Authorization": f"Bearer {key}"}
        assert (await http.get(path, headers=headers)).status_code == 200
        limited = await asyncio.to_thread(
            cli, database_url, "clients", "limit", name, "--max-in-flight", "1"
        )
        changed_at = time.monotonic()
        async with engine_for(app).connect() as locker:
            transaction = await locker.begin()
            await locker.execute(
                text("SELECT 1 FROM users WHERE id = :id FOR UPDATE"), {"id": user_id}
            )
            held = asyncio.create_task(
                http.patch(path, json={"username": "renamed"}, headers=headers)
            )
            await asyncio.sleep(0.2)
            status = 200
            while status == 200 and time.monotonic() < changed_at + CACHE_SECONDS + 1:
                status = (await http.get(path, headers=headers)).status_code
                await asyncio.sleep(0.1)
            applied_after = time.monotonic() - changed_at
            await transaction.rollback()
        patched = await held

    assert limited[0] == 0, limited[2]
    assert status == 429
    assert applied_after < 5
    assert patched.status_code == 200
