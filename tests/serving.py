"""`db-postgres-service serve` run as a real process for tests: start, probe, stop, and load."""

import os
import re
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

from .helpers import TEST_API_KEY, asyncpg_dsn

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


def with_suppressed_lookup(action: object) -> None:
    try:
        if callable(action):
            action()
    except ProcessLookupError:
        pass


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
def serving(
    database_url: str, *, log_to: Path | None = None, port: int | None = None, **variables: str
) -> Iterator[Service]:
    """`serve` on the test database, ready, with these environment variables; stopped after.
    Its output goes to `log_to` when given; it listens on `port` (by default a free one)."""
    port = port or free_port()
    # Each service gets the fresh metrics folder `serve` makes, not the test session's, unless
    # the test names one.
    inherited = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    environment = {
        **inherited,
        "DATABASE_URL": database_url,
        "PORT": str(port),
        "LOG_LEVEL": "WARNING",
        **variables,
    }
    output = log_to.open("wb") if log_to is not None else None
    process = subprocess.Popen(
        [sys.executable, "-m", "db_postgres_service", "serve"],
        env=environment,
        stdout=output,
        stderr=subprocess.STDOUT if output is not None else None,
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
        if output is not None:
            output.close()


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


def worker_pids(parent: int) -> set[int]:
    workers = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if int(stat[1]) == parent and stat[0] != "Z" and b"resource_tracker" not in command:
            workers.add(int(entry.name))
    return workers


def run_cli(*arguments: str, cwd: Path, **environment: str) -> subprocess.CompletedProcess[str]:
    """`db-postgres-service ARGUMENTS` as a user runs it: its own process, in `cwd`, without
    DATABASE_URL unless given."""
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(environment, NO_COLOR="1")
    return subprocess.run(
        [sys.executable, "-m", "db_postgres_service", *arguments],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@contextmanager
def serving_embedded(workdir: Path, **variables: str) -> Iterator[Service]:
    """`serve` as `make run` starts it, without DATABASE_URL, from `workdir` (whose
    .data/postgres it uses, or creates); ready; stopped with SIGTERM after, which also stops
    its PostgreSQL, so that another `serve` may start on the same data."""
    environment = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    environment.update(
        PORT=str(free_port()), WEB_CONCURRENCY="1", LOG_LEVEL="WARNING", NO_COLOR="1"
    )
    environment.update(variables)
    with (workdir / "output.log").open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "db_postgres_service", "serve"],
            cwd=workdir,
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    service = Service(process, f"http://127.0.0.1:{environment['PORT']}", workdir)
    try:
        assert wait_until(service.ready, 60), "the service did not become ready"
        yield service
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            with_suppressed_lookup(lambda: os.killpg(process.pid, signal.SIGKILL))
            process.wait(10)
