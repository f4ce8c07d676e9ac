"""A throw-away PgBouncer for tests and benchmarks: Debian's `pgbouncer` (1.18 in bookworm) on a
free port, in front of a PostgreSQL, in a temporary folder, stopped and removed afterwards.
PgBouncer refuses to run as root: as root it runs as `postgres` (else `nobody`), like the
embedded PostgreSQL.
"""

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy.engine import make_url

from db_postgres_service.dev.embedded_postgres import unprivileged_account

READY_SECONDS = 10.0
STOP_SECONDS = 10.0


def find_pgbouncer() -> str | None:
    """The pgbouncer executable (Debian installs it in /usr/sbin), if any."""
    return shutil.which("pgbouncer") or next(
        (path for path in ("/usr/sbin/pgbouncer", "/usr/bin/pgbouncer") if Path(path).exists()),
        None,
    )


def _server_address(server_url: str) -> tuple[str, int]:
    """Host (or socket folder) and port of the PostgreSQL behind it."""
    url = make_url(server_url)
    host = url.host or str(url.query.get("host") or "127.0.0.1")
    return host, url.port or int(str(url.query.get("port") or 5432))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def running_pgbouncer(
    executable: str, server_url: str, *, pool_mode: str, pool_size: int
) -> Iterator[str]:
    """The URL of `server_url`'s `postgres` database through a new PgBouncer, which forwards
    every database name to that server with at most `pool_size` server connections per
    database and user (trust authentication, like the servers it fronts here)."""
    host, port = _server_address(server_url)
    folder = Path(tempfile.mkdtemp(prefix="dps-pgbouncer-"))
    folder.chmod(0o755)
    listen_port = _free_port()
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
        "max_client_conn = 4000\n"
        "admin_users = postgres\n"
    )
    account = unprivileged_account()
    if account is not None:
        for path in (folder, *folder.iterdir()):
            os.chown(path, account.pw_uid, account.pw_gid)
    with (folder / "pgbouncer.log").open("wb") as log:
        process = subprocess.Popen(  # noqa: S603 - the package's pgbouncer, our own configuration
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
            process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(folder, ignore_errors=True)


def _wait_until_listening(process: "subprocess.Popen[bytes]", port: int, folder: Path) -> None:
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    log = (folder / "pgbouncer.log").read_text(errors="replace")
    raise RuntimeError(f"pgbouncer did not listen on port {port}:\n{log[-2000:]}")
