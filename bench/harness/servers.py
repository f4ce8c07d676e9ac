"""The two servers under test: prepared, started, probed, measured and stopped.

Each runs in its own session (process group) with its output in a log file under
bench/results/, so that stopping it reaches its workers and nobody has to drain a pipe.
"""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.harness.config import REPO_DIR
from bench.harness.database import asyncpg_url, seed_organizations, seed_users
from bench.harness.ports import free_port

BIN_DIR = Path(sys.executable).parent
WORKERS = 2
READY_TIMEOUT_SECONDS = 60.0
# Above the service's default SHUTDOWN_GRACE_SECONDS (30): it may finish requests in flight.
STOP_TIMEOUT_SECONDS = 40.0


class ServerError(RuntimeError):
    """A server or one of its setup commands failed."""


@dataclass(frozen=True)
class Target:
    """A running server under load: where it listens and how its user routes are called."""

    name: str
    base_url: str
    users_path: str
    api_key: str
    pid: int
    log_path: Path


def _environment(**overrides: str) -> dict[str, str]:
    environment = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    environment.update(overrides)
    return environment


def run_command(command: list[str], database_url: str) -> str:
    """Run one of our commands on `database_url`; its output, or ServerError."""
    result = subprocess.run(  # noqa: S603 - our own executables, fixed arguments
        command,
        cwd=REPO_DIR,
        env=_environment(DATABASE_URL=database_url),
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    if result.returncode != 0:
        raise ServerError(f"{' '.join(command)} failed:\n{result.stderr}{result.stdout}")
    return result.stdout


def prepare_service(database_url: str) -> str:
    """Migrate and seed the service's database; return a new API key that may read and write."""
    cli = str(BIN_DIR / "db-postgres-service")
    run_command([cli, "migrate"], database_url)
    scopes = (
        "users:read",
        "users:write",
        "organizations:read",
        "organizations:write",
        "events:read",
    )
    create = [cli, "clients", "create", "bench", *(f"--scope={scope}" for scope in scopes)]
    lines = [line for line in run_command(create, database_url).splitlines() if line.strip()]
    if not lines or not lines[-1].startswith("dps_"):
        raise ServerError("`clients create` printed no key")
    seed_users(database_url)
    seed_organizations(database_url)
    return lines[-1].strip()


def prepare_baseline(database_url: str) -> None:
    """Create the baseline's table (once, before its workers race to) and seed it."""
    run_command([sys.executable, "-m", "bench.baseline.app"], asyncpg_url(database_url))
    seed_users(database_url)


Process = subprocess.Popen[bytes]


def _start(command: list[str], environment: dict[str, str], log_path: Path) -> Process:
    with log_path.open("wb") as log:
        return subprocess.Popen(  # noqa: S603 - our own executables, fixed arguments
            command,
            cwd=REPO_DIR,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _wait_until_ready(process: Process, url: str, log_path: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerError(f"{url} exited while starting; see {log_path}")
        try:
            if httpx.get(url, timeout=2.0).status_code == httpx.codes.OK and (
                len(worker_pids(process.pid)) >= WORKERS
            ):
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise ServerError(f"{url} was not ready within {READY_TIMEOUT_SECONDS:g} s; see {log_path}")


def _stop(process: Process) -> None:
    """SIGTERM to the whole group (server and workers), SIGKILL if it lingers."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    with suppress(subprocess.TimeoutExpired):
        process.wait(STOP_TIMEOUT_SECONDS)
    # Also ends workers that outlived their parent.
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


@contextmanager
def _serving(
    command: list[str], port: str, environment: dict[str, str], ready_path: str, log_path: Path
) -> Iterator[tuple[int, str]]:
    process = _start(command, environment, log_path)
    try:
        base_url = f"http://127.0.0.1:{port}"
        _wait_until_ready(process, base_url + ready_path, log_path)
        yield process.pid, base_url
    finally:
        _stop(process)


@contextmanager
def running_service(
    database_url: str, api_key: str, log_path: Path, **variables: str
) -> Iterator[Target]:
    """`db-postgres-service serve` as production runs it: granian, 2 workers, INFO logs; with
    these further environment variables."""
    port = str(free_port())
    environment = _environment(
        DATABASE_URL=database_url,
        WEB_CONCURRENCY=str(WORKERS),
        LOG_LEVEL="INFO",
        LOG_FORMAT="json",
        **variables,
    )
    command = [str(BIN_DIR / "db-postgres-service"), "serve", "--host", "127.0.0.1", "--port", port]
    with _serving(command, port, environment, "/health/ready", log_path) as (pid, url):
        yield Target("service", url, "/api/v1/users", api_key, pid, log_path)


@contextmanager
def running_baseline(database_url: str, log_path: Path) -> Iterator[Target]:
    """The tutorial baseline under uvicorn with 2 workers and uvicorn's defaults otherwise."""
    port = str(free_port())
    environment = _environment(DATABASE_URL=asyncpg_url(database_url))
    command = [
        str(BIN_DIR / "uvicorn"),
        "bench.baseline.app:app",
        "--workers",
        str(WORKERS),
        "--host",
        "127.0.0.1",
        "--port",
        port,
    ]
    with _serving(command, port, environment, "/health", log_path) as (pid, url):
        yield Target("baseline", url, "/users", "", pid, log_path)


def _parent_and_name(pid: int) -> tuple[int, str] | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        command_line = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    # The command name is in parentheses and may itself hold spaces and parentheses.
    fields = stat.rsplit(")", 1)[1].split()
    return int(fields[1]), command_line.replace(b"\0", b" ").decode(errors="replace")


def worker_pids(parent: int) -> list[int]:
    """The worker processes of a server: its children, less multiprocessing's helpers."""
    workers = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        found = _parent_and_name(int(entry.name))
        if found is None or found[0] != parent:
            continue
        if "resource_tracker" in found[1] or "semaphore_tracker" in found[1]:
            continue
        workers.append(int(entry.name))
    return sorted(workers)


def rss_mib(pid: int) -> float | None:
    """Resident memory of a process in MiB (VmRSS), or None when it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return None
