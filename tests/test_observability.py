"""Request logs and metrics: what operators see, and what they must never see."""

import io
import json
import logging
import subprocess
import sys
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from fastapi import FastAPI

from db_postgres_service.api.metrics import record_pool
from db_postgres_service.core import logging as service_logging
from db_postgres_service.core.logging import (
    LineWriter,
    LogFormat,
    RecordFormatter,
    configure_logging,
    flush_logs,
)
from db_postgres_service.main import create_app

from .conftest import make_settings
from .helpers import TEST_API_KEY, Database, create, http_client, new_user, sample

UNREACHABLE_DATABASE = "postgresql://postgres@127.0.0.1:1/nothing"


class LogOutput:
    """What the service writes to its log stream, once it is configured by the test."""

    def __init__(self) -> None:
        self.stream = io.StringIO()

    def use(self, log_format: LogFormat, level: str = "INFO") -> None:
        configure_logging(level, log_format, stream=self.stream)

    def text(self) -> str:
        flush_logs()
        return self.stream.getvalue()

    def access_lines(self) -> list[str]:
        return [line for line in self.text().splitlines() if "db_postgres_service.access" in line]


@pytest.fixture
def log_output(client: httpx.AsyncClient) -> LogOutput:
    """Requested after `client`, so that it replaces the logging its app's startup installed."""
    return LogOutput()


async def test_every_request_gets_one_access_log_line_with_its_context(
    client: httpx.AsyncClient, log_output: LogOutput
) -> None:
    user = await create(client)
    log_output.use("json")

    response = await client.get(f"/api/v1/users/{user['id']}", headers={"X-Request-ID": "rid-1"})

    (text,) = log_output.access_lines()
    line = json.loads(text)
    assert line["level"] == "info"
    assert line["logger"] == "db_postgres_service.access"
    assert line["message"] == f"GET /api/v1/users/{{user_id}} {response.status_code}"
    assert line["time"].endswith("Z")
    assert {key: line[key] for key in ("request_id", "client", "method", "route", "status")} == {
        "request_id": "rid-1",
        "client": "tests",
        "method": "GET",
        "route": "/api/v1/users/{user_id}",
        "status": response.status_code,
    }
    assert line["duration_ms"] >= 0


async def test_an_unknown_route_is_logged_without_its_raw_path(
    client: httpx.AsyncClient, log_output: LogOutput
) -> None:
    log_output.use("json")

    await client.get("/api/v1/users/1/secret-looking-path")

    (text,) = log_output.access_lines()
    line = json.loads(text)
    assert (line["route"], line["status"]) == ("unmatched", 404)
    assert "secret-looking-path" not in text


async def test_the_text_format_is_one_readable_line(
    client: httpx.AsyncClient, log_output: LogOutput
) -> None:
    log_output.use("text")

    await client.get("/health", headers={"X-Request-ID": "rid-2"})

    (line,) = log_output.access_lines()
    assert "GET /health 200" in line
    assert "request_id=rid-2" in line


async def test_the_access_log_is_off_below_info(
    client: httpx.AsyncClient, log_output: LogOutput
) -> None:
    log_output.use("json", level="WARNING")

    await client.get("/health")

    assert log_output.access_lines() == []


async def test_no_log_line_holds_a_password_a_hash_or_an_api_key_even_on_errors(
    client: httpx.AsyncClient,
    app: FastAPI,
    db: Database,
    caplog: pytest.LogCaptureFixture,
    log_output: LogOutput,
) -> None:
    log_output.use("json", level="DEBUG")
    caplog.set_level(logging.DEBUG)
    password = "pw-that-must-never-be-logged"
    wrong_key = "dps_a-wrong-key-that-must-never-be-logged"

    await client.post("/api/v1/users", json=new_user("alice", password=password))
    await client.post("/api/v1/users", json=new_user("alice", password=password))
    await client.post("/api/v1/users", json=new_user("bob", password=password, extra=password))
    await client.post("/api/v1/users", content=b'{"password": "' + password.encode() + b'"')
    await client.post(
        "/api/v1/users/authenticate", json={"login": "alice", "password": "x" + password}
    )
    await client.post("/api/v1/users/authenticate", json={"login": "nobody", "password": password})
    async with http_client(httpx.ASGITransport(app=app), key=wrong_key) as intruder:
        await intruder.get("/api/v1/users")
    async with unreachable_client() as broken:
        await broken.post("/api/v1/users", json=new_user("carol", password=password))

    stored_hash = await db.scalar("SELECT hashed_password FROM users")
    lines = [
        formatter.format(r)
        for r in caplog.records
        for formatter in (RecordFormatter(as_json=True), RecordFormatter(as_json=False))
    ]
    logged = "\n".join(lines) + caplog.text + log_output.text()
    for secret in (password, stored_hash, TEST_API_KEY, wrong_key):
        assert secret not in logged


@asynccontextmanager
async def unreachable_client() -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app whose database is unreachable, with its lifespan running."""
    broken = create_app(make_settings(UNREACHABLE_DATABASE))
    transport = httpx.ASGITransport(app=broken)
    async with broken.router.lifespan_context(broken), http_client(transport) as client:
        yield client


async def metrics_text(client: httpx.AsyncClient) -> str:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


async def test_metrics_count_requests_by_method_route_template_and_status(
    client: httpx.AsyncClient,
) -> None:
    before = sample(
        await metrics_text(client),
        "http_requests_total",
        method="GET",
        route="/api/v1/users/{user_id}",
        status="404",
    )

    await client.get("/api/v1/users/41")
    await client.get("/api/v1/users/42")

    after = await metrics_text(client)
    count = sample(
        after, "http_requests_total", method="GET", route="/api/v1/users/{user_id}", status="404"
    )
    assert count == before + 2
    assert "http_request_duration_seconds_bucket" in after


async def test_a_request_refused_before_routing_is_counted_under_its_route_template(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    labels = {"method": "GET", "route": "/api/v1/users/{user_id}", "status": "401"}
    before = sample(await metrics_text(client), "http_requests_total", **labels)

    async with http_client(httpx.ASGITransport(app=app), key=None) as anonymous:
        await anonymous.get("/api/v1/users/7")

    after = sample(await metrics_text(client), "http_requests_total", **labels)
    assert after == before + 1


async def test_metrics_show_the_pool_and_database_errors_by_kind(client: httpx.AsyncClient) -> None:
    await create(client, name="alice")
    before = sample(await metrics_text(client), "db_errors_total", kind="23505")

    await client.post("/api/v1/users", json=new_user("alice"))

    text = await metrics_text(client)
    assert sample(text, "db_errors_total", kind="23505") == before + 1
    for state in ("in_use", "idle", "overflow"):
        assert f'db_pool_connections{{state="{state}"}}' in text


async def test_the_pool_gauge_counts_every_connection_a_request_holds(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """One pool serves statements and transactions alike, and the gauge sees both."""
    pool = app.state.statement_pool
    in_use_before, _ = pool.usage()

    async with pool.transaction(), pool.connection():
        record_pool(pool)
        holding = sample(await metrics_text(client), "db_pool_connections", state="in_use")
    record_pool(pool)
    released = sample(await metrics_text(client), "db_pool_connections", state="in_use")

    assert holding == in_use_before + 2
    assert released == in_use_before


@pytest.fixture
async def unreachable() -> AsyncIterator[httpx.AsyncClient]:
    async with unreachable_client() as client:
        yield client


async def test_metrics_need_no_key_and_answer_while_the_database_is_down(
    unreachable: httpx.AsyncClient, app: FastAPI
) -> None:
    async with http_client(httpx.ASGITransport(app=app), key=None) as anonymous:
        assert (await anonymous.get("/metrics")).status_code == 200
    assert (await unreachable.get("/metrics")).status_code == 200


def test_a_command_that_exits_at_once_still_writes_its_last_log_lines() -> None:
    # The writer thread batches lines; a process must not exit with a batch unwritten.
    program = (
        "import logging\n"
        "from db_postgres_service.core.logging import configure_logging\n"
        "configure_logging('INFO', 'json')\n"
        "logging.getLogger('db_postgres_service').info('last words')\n"
    )

    finished = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=30, check=True
    )

    (line,) = finished.stderr.splitlines()
    assert json.loads(line)["message"] == "last words"


def test_lines_a_stalled_stream_cannot_take_are_all_counted_from_every_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(service_logging, "MAX_PENDING_LINES", 100)
    # Switch threads as often as possible, so that an unguarded `+= 1` would lose counts.
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    stream = io.StringIO()
    writer = LineWriter(stream)
    writer.close()  # The writer thread stops: nothing drains, as with a stalled stream.
    try:
        threads = [
            threading.Thread(target=lambda: [writer.write("line") for _ in range(5_000)])
            for _ in range(8)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(previous)
    writer.flush()

    lines = stream.getvalue().splitlines()
    assert lines[:100] == ["line"] * 100
    assert lines[100:] == ["39900 log lines dropped: the log stream did not keep up"]
