"""A throw-away PgBouncer for tests: Debian's `pgbouncer` (1.18 in bookworm) on a free port, in
front of the tests' PostgreSQL, in a temporary folder, stopped and removed afterwards.

`make test` installs the package when it is missing (as root with apt-get); a test that needs
it and finds none is skipped with the reason, unless DPS_REQUIRE_EVERY_TEST is set (.ci/run
sets it), which makes the skip a failure.
"""

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from .serving import free_port

READY_SECONDS = 10.0


def require_pgbouncer() -> str:
    """The pgbouncer executable, or the test is skipped (failed under DPS_REQUIRE_EVERY_TEST)."""
    found = shutil.which("pgbouncer") or next(
        (path for path in ("/usr/sbin/pgbouncer", "/usr/bin/pgbouncer") if Path(path).exists()),
        None,
    )
    if found is None:
        reason = "pgbouncer not found (apt-get install pgbouncer)"
        if os.environ.get("DPS_REQUIRE_EVERY_TEST"):
            pytest.fail(f"{reason}; DPS_REQUIRE_EVERY_TEST forbids skipping")
        pytest.skip(reason)
    return found


def _server_address(server_url: str) -> tuple[str, int]:
    """Host (or socket folder) and port of the tests' PostgreSQL."""
    url = make_url(server_url)
    host = url.host or str(url.query.get("host") or "127.0.0.1")
    return host, url.port or int(str(url.query.get("port") or 5432))


def _account() -> pwd.struct_passwd | None:
    """PgBouncer refuses to run as root: as root it runs as `postgres` (else `nobody`)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise RuntimeError("running as root, with no 'postgres' or 'nobody' account for pgbouncer")


@contextmanager
def running_pgbouncer(server_url: str, *, pool_mode: str, pool_size: int) -> Iterator[str]:
    """The SQLAlchemy URL of `server_url`'s `postgres` database through a new PgBouncer, which
    forwards every database name to that server with at most `pool_size` server connections
    per database and user."""
    executable = require_pgbouncer()
    host, port = _server_address(server_url)
    folder = Path(tempfile.mkdtemp(prefix="dps-test-pgbouncer-"))
    folder.chmod(0o755)
    listen_port = free_port()
    (folder / "users.txt").write_text('"postgres" ""\n')
    (folder / "pgbouncer.ini").write_text(
        "[databases]\n"
        f"* = host={host} port={port}\n"
        "[pgbouncer]\n"
        "listen_addr = 127.0.0.1\n"
        f"listen_port = {listen_port}\n"
        f"unix_socket_dir = {folder}\n"
        "auth_type = trust\n"
        f"auth_file = {folder / 'users.txt'}\n"
        f"pool_mode = {pool_mode}\n"
        f"default_pool_size = {pool_size}\n"
        "max_client_conn = 2000\n"
        "admin_users = postgres\n"
    )
    account = _account()
    if account is not None:
        for path in (folder, *folder.iterdir()):
            os.chown(path, account.pw_uid, account.pw_gid)
    log = (folder / "pgbouncer.log").open("wb")
    process = subprocess.Popen(
        [executable, str(folder / "pgbouncer.ini")],
        stdout=log,
        stderr=subprocess.STDOUT,
        user=None if account is None else account.pw_uid,
        group=None if account is None else account.pw_gid,
    )
    try:
        _wait_until_listening(process, listen_port, folder)
        url = make_url(server_url).set(host="127.0.0.1", port=listen_port, query={})
        yield url.set(database="postgres").render_as_string(hide_password=False)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        shutil.rmtree(folder, ignore_errors=True)


def _wait_until_listening(process: "subprocess.Popen[bytes]", port: int, folder: Path) -> None:
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    log = (folder / "pgbouncer.log").read_text(errors="replace")
    raise RuntimeError(f"pgbouncer did not listen on port {port}:\n{log[-2000:]}")
