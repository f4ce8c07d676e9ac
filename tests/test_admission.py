"""Every caller served: connections are all accepted, work is bounded, overload is shed with 503.

These run `serve` as production does (granian) on the test database: what they check lives in
the server's handling of connections as much as in the application.
"""

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from .conftest import asyncpg_dsn
from .helpers import sample
from .serving import (
    AUTH,
    Service,
    alive,
    new_user_through,
    patch_in_background,
    row_locked,
    serving,
    wait_until,
    worker_pids,
)

# One worker that runs one request at a time: a PATCH held on a row lock takes the only place.
ONE_PLACE = {"WEB_CONCURRENCY": "1", "REQUESTS_PER_WORKER": "1"}
LOCK_SECONDS = 3.0


def user_count(database_url: str, username: str) -> int:
    async def count() -> int:
        connection = await asyncpg.connect(asyncpg_dsn(database_url))
        try:
            found: int = await connection.fetchval(
                "SELECT count(*) FROM users WHERE lower(username) = lower($1)", username
            )
            return found
        finally:
            await connection.close()

    return asyncio.run(count())


@contextmanager
def only_place_taken(service: Service, database_url: str) -> Iterator[Future[httpx.Response]]:
    """A PATCH that holds the worker's only place, waiting LOCK_SECONDS on a row lock; after
    the block it has finished with 200. Yields the PATCH's future."""
    user = new_user_through(service)
    with row_locked(database_url, user["id"], LOCK_SECONDS), ThreadPoolExecutor(1) as pool:
        patch = patch_in_background(pool, service, user["id"])
        time.sleep(0.5)
        yield patch
        assert patch.result().status_code == 200


def new_user_body() -> dict[str, str]:
    name = "u" + uuid.uuid4().hex[:16]
    return {"email": f"{name}@example.com", "username": name, "password": "correct horse"}


def test_every_connection_is_answered_beyond_the_requests_a_worker_runs(
    database_url: str,
) -> None:
    with serving(database_url, **ONE_PLACE) as service:
        user = new_user_through(service)
        clients = [
            httpx.Client(base_url=service.base_url, headers=AUTH, timeout=5) for _ in range(40)
        ]
        try:
            # Every client keeps its connection open while the next one asks.
            statuses = [client.get(f"/api/v1/users/{user['id']}").status_code for client in clients]
            again = [client.get(f"/api/v1/users/{user['id']}").status_code for client in clients]
        finally:
            for client in clients:
                client.close()

    assert statuses == [200] * 40
    assert again == [200] * 40


def test_a_request_that_cannot_start_within_the_queue_budget_gets_503_and_never_runs(
    database_url: str,
) -> None:
    body = new_user_body()
    with serving(database_url, **ONE_PLACE, REQUEST_QUEUE_TIMEOUT_MS="300") as service:
        with only_place_taken(service, database_url) as patch:
            refused = httpx.post(f"{service.base_url}/api/v1/users", json=body, headers=AUTH)
            patch_still_running = not patch.done()
        time.sleep(0.5)
        answered_later = httpx.get(
            f"{service.base_url}/api/v1/users/by_username/{body['username']}", headers=AUTH
        )

    assert patch_still_running
    assert refused.status_code == 503
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.headers["retry-after"] == "1"
    problem = refused.json()
    assert problem["type"].endswith("/service-unavailable")
    assert problem["detail"] == (
        "The service is at capacity: the request could not start within 0.3 s and was not executed."
    )
    assert problem["request_id"] == refused.headers["x-request-id"]
    assert answered_later.status_code == 404
    assert user_count(database_url, body["username"]) == 0


def test_a_waiting_request_runs_when_a_place_frees_within_the_budget(database_url: str) -> None:
    body = new_user_body()
    with (
        serving(database_url, **ONE_PLACE, REQUEST_QUEUE_TIMEOUT_MS="20000") as service,
        only_place_taken(service, database_url) as patch,
    ):
        url = f"{service.base_url}/api/v1/users"
        created = httpx.post(url, json=body, headers=AUTH, timeout=30)
        patch_finished_first = patch.done()

    assert patch_finished_first
    assert created.status_code == 201
    assert user_count(database_url, body["username"]) == 1


def send_and_hang_up(service: Service, body: dict[str, str], wait: float) -> None:
    """POST a create on a raw connection, then close it after `wait` s without reading."""
    host, port = service.base_url.removeprefix("http://").split(":")
    payload = json.dumps(body).encode()
    request = (
        f"POST /api/v1/users HTTP/1.1\r\nHost: {host}\r\n"
        f"Authorization: {AUTH['Authorization']}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\n\r\n"
    ).encode() + payload
    with socket.create_connection((host, int(port))) as connection:
        connection.sendall(request)
        time.sleep(wait)


def test_a_waiting_request_whose_caller_hangs_up_never_runs(database_url: str) -> None:
    body = new_user_body()
    with serving(database_url, **ONE_PLACE, REQUEST_QUEUE_TIMEOUT_MS="20000") as service:
        with only_place_taken(service, database_url):
            send_and_hang_up(service, body, wait=0.5)
        time.sleep(0.5)
        dropped = sample(
            httpx.get(f"{service.base_url}/metrics").text,
            "http_requests_total",
            method="POST",
            route="/api/v1/users",
            status="499",
        )

    assert user_count(database_url, body["username"]) == 0
    assert dropped == 1


@pytest.mark.parametrize("probe", ["/health", "/health/ready", "/metrics"])
def test_probes_answer_while_every_place_is_taken_and_requests_wait(
    database_url: str, probe: str
) -> None:
    with (
        serving(database_url, **ONE_PLACE, REQUEST_QUEUE_TIMEOUT_MS="20000") as service,
        ThreadPoolExecutor(1) as pool,
    ):
        with only_place_taken(service, database_url) as patch:
            waiting = pool.submit(
                httpx.get, f"{service.base_url}/api/v1/users/0", headers=AUTH, timeout=30
            )
            time.sleep(0.3)

            answer = httpx.get(f"{service.base_url}{probe}", timeout=LOCK_SECONDS / 2)
            others_still_waiting = not patch.done() and not waiting.done()

        assert waiting.result().status_code == 404

    assert answer.status_code == 200
    assert others_still_waiting


_HOLD_UNCOMMITTED_USER = """
import asyncio, sys, asyncpg

async def main():
    connection = await asyncpg.connect(sys.argv[1])
    async with connection.transaction():
        await connection.execute(
            "INSERT INTO users (email, username, hashed_password) VALUES ($1, $2, 'x')",
            sys.argv[2] + "@example.com", sys.argv[2])
        print("inserted", flush=True)
        await asyncio.sleep(float(sys.argv[3]))
        raise SystemExit(0)

asyncio.run(main())
"""


def test_readiness_does_not_wait_for_a_connection_that_requests_hold(database_url: str) -> None:
    name = "held" + uuid.uuid4().hex[:12]
    with serving(database_url, WEB_CONCURRENCY="1", DB_POOL_SIZE="1") as service:
        holder = subprocess.Popen(
            [sys.executable, "-c", _HOLD_UNCOMMITTED_USER, asyncpg_dsn(database_url), name, "3"],
            stdout=subprocess.PIPE,
        )
        assert holder.stdout is not None
        assert holder.stdout.readline() == b"inserted\n"
        with ThreadPoolExecutor(1) as pool:
            # A create with Idempotency-Key runs in a transaction on the pool's only
            # connection, and waits there for the uncommitted row with the same username.
            create = pool.submit(
                httpx.post,
                f"{service.base_url}/api/v1/users",
                json={"email": f"{name}@example.org", "username": name, "password": "12345678"},
                headers={**AUTH, "Idempotency-Key": uuid.uuid4().hex},
                timeout=30,
            )
            time.sleep(0.5)

            ready = httpx.get(f"{service.base_url}/health/ready", timeout=2)
            create_still_waiting = not create.done()

            create.result()
        holder.wait(10)

    assert create_still_waiting
    assert ready.status_code == 200


def get_statuses_until(service: Service, path: str, done: object, seconds: float) -> list[Any]:
    """GET `path` on a fresh connection each time until done() or `seconds` pass: each status,
    or the name of the transport error."""
    statuses: list[Any] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not (callable(done) and done() and statuses):
        try:
            statuses.append(httpx.get(service.base_url + path, headers=AUTH, timeout=2).status_code)
        except httpx.HTTPError as error:
            statuses.append(type(error).__name__)
        time.sleep(0.05)
    return statuses


def test_a_killed_worker_is_replaced_while_the_other_keeps_answering(
    database_url: str, tmp_path: Path
) -> None:
    metrics = tmp_path / "metrics"
    metrics.mkdir()
    with serving(database_url, WEB_CONCURRENCY="2", PROMETHEUS_MULTIPROC_DIR=str(metrics)) as svc:
        user = new_user_through(svc)
        assert wait_until(lambda: len(worker_pids(svc.process.pid)) == 2, 10)
        before = worker_pids(svc.process.pid)
        victim = min(before)

        os.kill(victim, signal.SIGKILL)
        assert wait_until(lambda: not alive(victim), 5)
        statuses = get_statuses_until(
            svc,
            f"/api/v1/users/{user['id']}",
            lambda: len(worker_pids(svc.process.pid) - before) == 1,
            seconds=15,
        )
        after = worker_pids(svc.process.pid)
        server_alive = svc.process.poll() is None
        # The new worker drops the gauges its killed predecessor left behind.
        gauges_dropped = wait_until(lambda: not list(metrics.glob(f"gauge_live*_{victim}.db")), 10)

    assert server_alive
    assert set(statuses) == {200}
    assert len(after) == 2
    assert victim not in after
    assert len(after - before) == 1
    assert gauges_dropped
