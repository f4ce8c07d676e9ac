"""Behaviour of the embedded PostgreSQL launcher used by `make run` and the test suite."""

from __future__ import annotations

import asyncio
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from db_postgres_service.dev import embedded_postgres
from db_postgres_service.dev.embedded_postgres import (
    EmbeddedPostgres,
    EmbeddedPostgresError,
    find_postgres_bin,
)

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="only meaningful when run as root")
needs_linux = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the parent-death signal is Linux only"
)

_CHILD_SCRIPT = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from db_postgres_service.dev.embedded_postgres import EmbeddedPostgres

    pg = EmbeddedPostgres(Path(sys.argv[1]), port=int(sys.argv[2]), fast_and_unsafe=True)
    pg.start()
    print(pg.pid, pg.socket_dir, flush=True)
    time.sleep(600)
    """
)


@pytest.fixture
def data_dir() -> Iterator[Path]:
    # Not tmp_path: pytest keeps it under a 0700 folder of the invoking user, which the
    # unprivileged account the server runs as under root may not traverse.
    path = Path(tempfile.mkdtemp(prefix="dps-pg-test-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture
def server(data_dir: Path, free_port: int) -> Iterator[EmbeddedPostgres]:
    pg = EmbeddedPostgres(data_dir, port=free_port, fast_and_unsafe=True)
    pg.start()
    try:
        yield pg
    finally:
        pg.stop()


def _run_sql(url: str, *statements: str) -> list[Any]:
    """Run the statements in one transaction; return the first column of the last one."""

    async def run() -> list[Any]:
        engine = create_async_engine(url)
        try:
            async with engine.begin() as connection:
                result = None
                for statement in statements:
                    result = await connection.execute(text(statement))
                assert result is not None
                return list(result.scalars()) if result.returns_rows else []
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _alive(pid: int) -> bool:
    # A zombie counts as dead: the orphaned postmaster is reparented to an init that may
    # never reap it.
    try:
        stat_line = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat_line.rpartition(")")[2].split()[0] not in {"Z", "X"}


def _wait_until_dead(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _start_in_child_then_kill_child(data_dir: Path, port: int) -> int:
    """Start a server from a child Python process, SIGKILL that process, return the server pid.

    Fails (after killing the server itself) if the server outlives its parent by 10 s.
    """
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD_SCRIPT, str(data_dir), str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        ready, _, _ = select.select([child.stdout], [], [], 30)
        line = child.stdout.readline() if ready else ""
        if not line:
            child.kill()
            _, stderr = child.communicate()
            pytest.fail(f"child did not start PostgreSQL: {stderr}")
        pid_text, socket_dir = line.split()
        postmaster_pid = int(pid_text)
        assert _alive(postmaster_pid)
    finally:
        child.kill()
        child.wait()
    # The child could not remove its socket folder itself.
    shutil.rmtree(socket_dir, ignore_errors=True)
    if not _wait_until_dead(postmaster_pid, timeout=10):
        os.kill(postmaster_pid, signal.SIGKILL)
        pytest.fail(f"postmaster {postmaster_pid} outlived its SIGKILLed parent")
    return postmaster_pid


def test_starts_on_empty_dir_and_accepts_unix_socket_connections(
    server: EmbeddedPostgres,
) -> None:
    assert _run_sql(server.url, "SELECT 1") == [1]


def test_does_not_listen_on_tcp_by_default(server: EmbeddedPostgres) -> None:
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", server.port), timeout=5).close()


def test_listens_on_loopback_tcp_when_asked(data_dir: Path, free_port: int) -> None:
    with EmbeddedPostgres(data_dir, port=free_port, listen_tcp=True, fast_and_unsafe=True) as pg:
        assert f"@127.0.0.1:{free_port}/" in pg.url
        assert _run_sql(pg.url, "SELECT 1") == [1]


def test_data_survives_stop_and_restart(data_dir: Path, free_port: int) -> None:
    with EmbeddedPostgres(data_dir, port=free_port, fast_and_unsafe=True) as pg:
        _run_sql(pg.url, "CREATE TABLE kept (v text)", "INSERT INTO kept VALUES ('still here')")
    with EmbeddedPostgres(data_dir, port=free_port, fast_and_unsafe=True) as pg:
        assert _run_sql(pg.url, "SELECT v FROM kept") == ["still here"]


def test_stop_leaves_no_process_or_socket_dir_and_is_idempotent(
    data_dir: Path, free_port: int
) -> None:
    pg = EmbeddedPostgres(data_dir, port=free_port, fast_and_unsafe=True)
    pg.start()
    pid, socket_dir = pg.pid, pg.socket_dir
    assert pid is not None
    assert socket_dir is not None
    pg.stop()
    pg.stop()
    assert pg.pid is None
    assert not _alive(pid)
    assert not socket_dir.exists()


def test_ensure_database_creates_a_missing_database_once(server: EmbeddedPostgres) -> None:
    assert server.ensure_database("app's db") is True
    assert server.ensure_database("app's db") is False
    assert _run_sql(server.url_for("app's db"), "SELECT current_database()") == ["app's db"]


@needs_root
def test_runs_as_an_unprivileged_account_under_root(server: EmbeddedPostgres) -> None:
    status = Path(f"/proc/{server.pid}/status").read_text()
    uids = next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1:]
    assert "0" not in uids


@needs_root
def test_refuses_data_dir_the_unprivileged_account_cannot_reach(tmp_path: Path) -> None:
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    pg = EmbeddedPostgres(private / "pg", fast_and_unsafe=True)
    with pytest.raises(EmbeddedPostgresError, match="out of reach"):
        pg.start()
    assert pg.pid is None
    assert pg.socket_dir is None


def test_start_refuses_to_run_outside_the_main_thread(data_dir: Path) -> None:
    errors: list[BaseException] = []

    def start() -> None:
        try:
            EmbeddedPostgres(data_dir).start()
        except EmbeddedPostgresError as error:
            errors.append(error)

    thread = threading.Thread(target=start)
    thread.start()
    thread.join()
    assert len(errors) == 1
    assert "main thread" in str(errors[0])


@needs_linux
def test_postmaster_dies_when_its_parent_is_sigkilled(data_dir: Path, free_port: int) -> None:
    postmaster_pid = _start_in_child_then_kill_child(data_dir, free_port)
    assert not _alive(postmaster_pid)


@needs_linux
def test_restarts_on_the_same_dir_after_the_parent_was_sigkilled(
    data_dir: Path, free_port: int
) -> None:
    _start_in_child_then_kill_child(data_dir, free_port)
    with EmbeddedPostgres(data_dir, port=free_port, fast_and_unsafe=True) as pg:
        assert _run_sql(pg.url, "SELECT 1") == [1]


def test_find_postgres_bin_honours_pg_bin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("initdb", "postgres"):
        (tmp_path / name).write_text("#!/bin/sh\n")
        (tmp_path / name).chmod(0o755)
    monkeypatch.setenv("PG_BIN", str(tmp_path))
    assert find_postgres_bin() == tmp_path


def test_find_postgres_bin_says_what_to_install_when_nothing_is_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PG_BIN", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(embedded_postgres, "_package_bin_dirs", lambda: iter(()))
    monkeypatch.setattr(embedded_postgres, "_well_known_bin_dirs", lambda: iter(()))
    with pytest.raises(EmbeddedPostgresError) as raised:
        find_postgres_bin()
    message = str(raised.value)
    assert "\n" not in message
    assert "pip install pgserver" in message
    assert "PG_BIN" in message
