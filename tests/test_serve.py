"""`db-postgres-service serve` as `make run` starts it: embedded PostgreSQL, production server."""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from .conftest import asyncpg_dsn
from .helpers import TEST_API_KEY

AUTH = {"Authorization": f"Bearer {TEST_API_KEY}"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def alive(pid: int) -> bool:
    """Whether `pid` runs; a zombie (exited, not yet reaped) counts as gone."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def wait_until(condition: object, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return True
        time.sleep(0.1)
    return False


@dataclass
class Service:
    process: subprocess.Popen[bytes]
    base_url: str
    workdir: Path

    @property
    def output(self) -> str:
        return (self.workdir / "output.log").read_text()

    def dev_key(self) -> str:
        match = re.search(r"API key of the 'dev' client \(all scopes\): (dps_\S+)", self.output)
        assert match, self.output
        return match.group(1)

    def postmaster_pid(self) -> int:
        pid_file = self.workdir / ".data" / "postgres" / "postmaster.pid"
        return int(pid_file.read_text().splitlines()[0])

    def ready(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"the service exited with {self.process.returncode}")
        try:
            return httpx.get(f"{self.base_url}/health/ready", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False


@pytest.fixture
def service() -> Iterator[Service]:
    """The service started from a fresh folder without DATABASE_URL, as on a new machine."""
    # A fresh folder outside pytest's 0700 tmp tree, which the server account could not reach.
    workdir = Path(tempfile.mkdtemp(prefix="dps-serve-"))
    workdir.chmod(0o755)
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    environment.update(PORT=str(port), WEB_CONCURRENCY="1", LOG_LEVEL="WARNING")
    environment["NO_COLOR"] = "1"
    process = subprocess.Popen(
        [sys.executable, "-m", "db_postgres_service", "serve"],
        cwd=workdir,
        env=environment,
        stdout=(workdir / "output.log").open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    service = Service(process, f"http://127.0.0.1:{port}", workdir)
    try:
        assert wait_until(service.ready, 60), "the service did not become ready"
        yield service
    finally:
        # Whatever the test did to the main process, leave nothing of the group behind.
        with_suppressed_lookup(lambda: os.killpg(process.pid, signal.SIGKILL))
        process.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)


def with_suppressed_lookup(action: object) -> None:
    try:
        if callable(action):
            action()
    except ProcessLookupError:
        pass


def test_serve_without_database_url_runs_on_an_embedded_postgres(service: Service) -> None:
    auth = {"Authorization": f"Bearer {service.dev_key()}"}
    created = httpx.post(
        f"{service.base_url}/api/v1/users",
        json={"email": "a@example.com", "username": "alice", "password": "correct horse"},
        headers=auth,
    )

    assert created.status_code == 201
    fetched = httpx.get(f"{service.base_url}/api/v1/users/by_username/alice", headers=auth)
    assert fetched.json() == created.json()
    assert (service.workdir / ".data" / "postgres" / "PG_VERSION").exists()


def test_a_fresh_embedded_database_prints_one_dev_key_and_requires_keys(service: Service) -> None:
    assert service.output.count("dps_") == 1
    assert httpx.get(f"{service.base_url}/api/v1/users").status_code == 401


def test_sigterm_stops_the_service_and_its_postgres(service: Service) -> None:
    postmaster = service.postmaster_pid()

    service.process.send_signal(signal.SIGTERM)

    assert service.process.wait(30) == 0
    assert wait_until(lambda: not alive(postmaster), 10)


def test_no_postgres_outlives_a_sigkilled_service(service: Service) -> None:
    postmaster = service.postmaster_pid()
    assert alive(postmaster)

    service.process.kill()
    service.process.wait(10)

    assert wait_until(lambda: not alive(postmaster), 10), "postgres outlived the service"


_HOLD_ROW_LOCK = """
import asyncio, sys, asyncpg

async def main():
    connection = await asyncpg.connect(sys.argv[1])
    async with connection.transaction():
        await connection.execute("SELECT 1 FROM users WHERE id = $1 FOR UPDATE", int(sys.argv[2]))
        print("locked", flush=True)
        await asyncio.sleep(float(sys.argv[3]))
    await connection.close()

asyncio.run(main())
"""


@contextmanager
def serving(database_url: str, **variables: str) -> Iterator[Service]:
    """`serve` on the test database, ready, with these environment variables; stopped after."""
    port = free_port()
    environment = {
        **os.environ,
        "DATABASE_URL": database_url,
        "PORT": str(port),
        "LOG_LEVEL": "WARNING",
        **variables,
    }
    # Each service gets the fresh metrics folder `serve` makes, not the test session's.
    environment.pop("PROMETHEUS_MULTIPROC_DIR", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "db_postgres_service", "serve"], env=environment
    )
    try:
        service = Service(process, f"http://127.0.0.1:{port}", Path(tempfile.gettempdir()))
        assert wait_until(service.ready, 60), "the service did not become ready"
        yield service
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@contextmanager
def row_locked(database_url: str, user_id: int, seconds: float) -> Iterator[None]:
    """The user's row locked by another connection for `seconds` from entering the block."""
    locker = subprocess.Popen(
        [
            sys.executable,
            "-c",
            _HOLD_ROW_LOCK,
            asyncpg_dsn(database_url),
            str(user_id),
            str(seconds),
        ],
        stdout=subprocess.PIPE,
    )
    try:
        assert locker.stdout is not None
        assert locker.stdout.readline() == b"locked\n"
        yield
    finally:
        locker.wait(seconds + 10)


def new_user_through(service: Service) -> dict[str, Any]:
    response = httpx.post(
        f"{service.base_url}/api/v1/users",
        json={
            "email": f"{uuid.uuid4().hex}@example.com",
            "username": uuid.uuid4().hex[:20],
            "password": "12345678",
        },
        headers=AUTH,
    )
    assert response.status_code == 201, response.text
    user: dict[str, Any] = response.json()
    return user


def patch_in_background(
    pool: ThreadPoolExecutor, service: Service, user_id: int
) -> Future[httpx.Response]:
    return pool.submit(
        httpx.patch,
        f"{service.base_url}/api/v1/users/{user_id}",
        json={"username": uuid.uuid4().hex[:20]},
        headers=AUTH,
        timeout=30,
    )


def test_sigterm_lets_a_request_in_flight_finish(database_url: str) -> None:
    with serving(database_url, WEB_CONCURRENCY="1") as service:
        user = new_user_through(service)
        with row_locked(database_url, user["id"], 2), ThreadPoolExecutor(1) as pool:
            # The PATCH waits for the row lock, so it is in flight when SIGTERM arrives.
            patch = patch_in_background(pool, service, user["id"])
            time.sleep(0.5)
            service.process.send_signal(signal.SIGTERM)

            assert patch.result().status_code == 200
        assert service.process.wait(30) == 0


@pytest.mark.parametrize(("requests_per_worker", "waits"), [("1", True), ("2", False)])
def test_a_worker_takes_no_more_requests_at_once_than_requests_per_worker(
    database_url: str, requests_per_worker: str, waits: bool
) -> None:
    with serving(
        database_url, WEB_CONCURRENCY="1", REQUESTS_PER_WORKER=requests_per_worker
    ) as service:
        user = new_user_through(service)
        with row_locked(database_url, user["id"], 2), ThreadPoolExecutor(1) as pool:
            patch = patch_in_background(pool, service, user["id"])
            time.sleep(0.5)
            started = time.monotonic()
            health = httpx.get(f"{service.base_url}/health", timeout=30)
            waited = time.monotonic() - started

            assert health.status_code == 200
            # The PATCH holds the only place until the lock goes, 1.5 s later.
            assert (waited > 1.0) is waits, waited
            assert patch.result().status_code == 200


def test_metrics_add_up_across_worker_processes(database_url: str) -> None:
    with serving(database_url, WEB_CONCURRENCY="2") as service:
        sent = 40
        # Separate connections, so that both workers take a share of the requests.
        for _ in range(sent):
            assert httpx.get(f"{service.base_url}/health").status_code == 200

        scrape = httpx.get(f"{service.base_url}/metrics").text

    line = next(
        line
        for line in scrape.splitlines()
        if line.startswith("http_requests_total{") and 'route="/health"' in line
    )
    assert float(line.rsplit(" ", 1)[1]) == sent
