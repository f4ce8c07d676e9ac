"""Instructions per request, in-process: what the service's code costs, counted, not timed.

cpu_per_request.py and cpu_per_write.py time the CPU, which on a shared 2-core machine moves by
more than the 5 % a change is judged by. This counts it: valgrind's callgrind counts the
instructions a process executes, the same for the same code, inputs and environment however
busy the machine is. The driver calls the ASGI application directly, as `serve` builds it
(create_app: request context, metrics, access log to memory, API-key check, fast lane,
FastAPI), 16 requests at a time against a real PostgreSQL. After a warm-up it calls
os.sched_yield(), runs N requests and calls it again; callgrind dumps its counts on entering
that C function, so the second dump counts the N requests and nothing else (not startup, not
the warm-up). The scenarios:

- `by_id`: GET /api/v1/users/{id}, ids drawn with a fixed seed among the 10,000 seeded users;
- `create`: POST /api/v1/users without Idempotency-Key, the body bench/wrk/create.lua sends.

Each run gets a fresh database (migrated, a key, the seeded users and organizations), hash
seed 0 and the garbage collector as the service sets it. What the service does once per
interval of wall-clock time (which valgrind slows fiftyfold) is put off beyond the run, as it
is spread over thousands of requests in production: see _WALL_CLOCK_INTERVALS.

With `--against REV` the same is measured for another revision first, in a throw-away git
worktree: its `src/` first on PYTHONPATH (the driver checks it is the code imported) and its
own migrations; the dependencies are this venv's.

Run: .venv/bin/python bench/instructions_per_request.py by_id|create [--against REV]
[--requests N] (needs valgrind and a CPython with its symbols; a run takes minutes, niced).
DATABASE_URL names a server for the throw-away databases; an embedded PostgreSQL without it.
"""

import argparse
import asyncio
import importlib
import io
import os
import random
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness.config import BCRYPT_HASH, REPO_DIR, SEEDED_USERS

SCENARIOS = ("by_id", "create")
CONCURRENCY = 16
WARMUP_REQUESTS = 320
REQUESTS = 800
SEED = 19
_SCOPES = ("users:read", "users:write")
_MODULE_LINE = "module: "
# The C function of os.sched_yield(), which nothing else calls: the driver's mark.
_MARKER = "os_sched_yield"
# What the service does once per interval of wall-clock time, which valgrind stretches
# fiftyfold: counted, it would be charged to the requests as often as a run was slow, and
# differ from run to run (in production it is spread over thousands of requests). Each interval
# is made longer than a run: the log writer thread's batches (written by the driver after each
# 16 requests instead), an API key's lookup, the pool gauges.
_WALL_CLOCK_INTERVALS = (
    ("db_postgres_service.core.logging", "_FLUSH_SECONDS"),
    ("db_postgres_service.api.authentication", "CACHE_SECONDS"),
    ("db_postgres_service.api.observability", "POOL_SAMPLE_SECONDS"),
)
# The same, of code that revisions before issue 21 do not have.
_WALL_CLOCK_INTERVALS_SINCE = (("db_postgres_service.api.metrics", "CLIENT_SAMPLE_SECONDS"),)
_LONGER_THAN_A_RUN = 86_400


async def _drive(scenario: str, url: str, api_key: str, requests: int) -> None:
    # Imported here, in the driver's process, whose PYTHONPATH names the code under test.
    from starlette.types import Message

    import db_postgres_service
    from db_postgres_service.core.config import Settings
    from db_postgres_service.core.logging import configure_logging, flush_logs
    from db_postgres_service.main import create_app

    print(_MODULE_LINE + db_postgres_service.__file__, flush=True)
    for module_name, name in _WALL_CLOCK_INTERVALS:
        module = importlib.import_module(module_name)
        if not hasattr(module, name):
            sys.exit(f"{module_name}.{name} is gone: see what replaced it")
        setattr(module, name, _LONGER_THAN_A_RUN)
    for module_name, name in _WALL_CLOCK_INTERVALS_SINCE:
        module = importlib.import_module(module_name)
        if hasattr(module, name):
            setattr(module, name, _LONGER_THAN_A_RUN)
    ids = random.Random(SEED)  # noqa: S311  # load, not secrets
    created = 0
    authorization = f"Bearer {api_key}".encode()
    settings = Settings(
        database_url=url,
        log_level="INFO",
        log_format="json",
        # Waits meant for native speed, which valgrind's fiftyfold slower connects outlast.
        db_connect_timeout=300,
        db_pool_timeout=300,
        request_queue_timeout_ms=60_000,
    )
    app = create_app(settings)

    def request() -> tuple[str, str, list[tuple[bytes, bytes]], bytes, int]:
        nonlocal created
        if scenario == "by_id":
            path = f"/api/v1/users/{ids.randint(1, SEEDED_USERS)}"
            return "GET", path, [], b"", 200
        created += 1
        name = f"bench{created:07d}"
        body = (
            f'{{"email": "{name}@example.com", "username": "{name}", '
            f'"password_hash": "{BCRYPT_HASH}"}}'
        ).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
        return "POST", "/api/v1/users", headers, body, 201

    async def one() -> None:
        method, path, headers, body, expected = request()
        scope = {
            "type": "http",
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [(b"host", b"bench"), (b"authorization", authorization), *headers],
            "client": ("127.0.0.1", 1),
            "server": ("bench", 80),
            "app": app,
            "state": {},
        }
        sent = False

        async def receive() -> Message:
            nonlocal sent
            if sent:
                await asyncio.sleep(3600)
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] != expected:
                raise RuntimeError(f"{method} {path} answered {message['status']}")

        await app(scope, receive, send)

    async def batches(count: int) -> None:
        for _ in range(count // CONCURRENCY):
            await asyncio.gather(*(one() for _ in range(CONCURRENCY)))
            # What the log writer thread would do with the batch's lines.
            flush_logs()

    async with app.router.lifespan_context(app):
        # The access log is on, as in production, but written to memory.
        configure_logging("INFO", "json", stream=io.StringIO())
        await batches(WARMUP_REQUESTS)
        # callgrind dumps its counts when this C function is entered (--dump-before): the
        # second dump holds exactly the measured requests.
        os.sched_yield()
        await batches(requests)
        os.sched_yield()


def _run(command: list[str], tree: Path, environment: dict[str, str]) -> str:
    result = subprocess.run(  # noqa: S603 - our own executables
        command, cwd=tree, env=environment, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        sys.exit(f"{' '.join(command[:3])} … failed in {tree}:\n{result.stderr[-3000:]}")
    return result.stdout


def _prepare(url: str, tree: Path, environment: dict[str, str]) -> str:
    """Migrate with the tree's own code and migrations, seed as prepare_service does; a key."""
    from alembic.script import ScriptDirectory

    from bench.harness.database import libpq_dsn, seed_organizations, seed_users

    cli = str(Path(sys.executable).parent / "db-postgres-service")
    database = {**environment, "DATABASE_URL": url}
    _run([cli, "migrate"], tree, database)
    scopes = [f"--scope={scope}" for scope in _SCOPES]
    key = _run([cli, "clients", "create", "bench", *scopes], tree, database).split()[-1]
    seed_users(url)
    seed_organizations(url)

    async def migrated() -> str:
        import asyncpg

        connection = await asyncpg.connect(libpq_dsn(url))
        try:
            return str(await connection.fetchval("SELECT version_num FROM alembic_version"))
        finally:
            await connection.close()

    head = ScriptDirectory(str(tree / "alembic")).get_current_head()
    if asyncio.run(migrated()) != head:
        sys.exit(f"the database was not migrated to {tree}'s own head {head}")
    return key


def _per_request(scenario: str, tree: Path, requests: int) -> float:
    """The measured requests' instructions under callgrind, over their number."""
    from bench.harness.database import provision

    source = tree / "src"
    # Loaded from .pyc, as an installed service is: the same code compiled from source in the
    # run itself (a fresh worktree) counted 0.3 % more per request.
    _run([sys.executable, "-m", "compileall", "-q", str(source)], tree, dict(os.environ))
    with (
        provision(os.environ.get("DATABASE_URL")) as databases,
        tempfile.TemporaryDirectory(prefix="dps-bench-callgrind-") as scratch,
    ):
        environment = {
            **os.environ,
            "PYTHONPATH": str(source),
            "PYTHONHASHSEED": "0",
            "PROMETHEUS_MULTIPROC_DIR": scratch,
            # The retention sweep's interval (_WALL_CLOCK_INTERVALS), a setting.
            "EVENT_SWEEP_INTERVAL_SECONDS": str(_LONGER_THAN_A_RUN),
        }
        key = _prepare(databases.service, tree, environment)
        out = Path(scratch) / "callgrind.out"
        command = [
            # Niced: a run takes minutes of a core, and its count does not depend on the load.
            *("nice", "-n", "10", "valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"),
            f"--dump-before={_MARKER}",
            *(sys.executable, str(Path(__file__).resolve()), scenario),
            *("--requests", str(requests), "--drive", databases.service, key),
        ]
        stdout = _run(command, tree, environment)
        imported = Path(stdout.split(_MODULE_LINE, 1)[1].splitlines()[0])
        if not imported.is_relative_to(source):
            sys.exit(f"the driver imported {imported}, not the code in {source}")
        measured = Path(f"{out}.2")
        if not measured.exists() or Path(f"{out}.3").exists():
            sys.exit(f"callgrind did not dump exactly twice at {_MARKER} (no symbols?)")
        totals = re.search(r"^totals: (\d+)", measured.read_text(), re.MULTILINE)
        assert totals is not None, f"no totals in {measured}"
        return int(totals.group(1)) / requests


@contextmanager
def _checkout(revision: str) -> Iterator[Path]:
    """A throw-away worktree of `revision`, removed again at the end."""
    with tempfile.TemporaryDirectory(prefix="dps-bench-tree-") as folder:
        tree = Path(folder) / "tree"
        git = ["git", "-C", str(REPO_DIR), "worktree"]
        _run([*git, "add", "--detach", "--quiet", str(tree), revision], REPO_DIR, dict(os.environ))
        try:
            yield tree
        finally:
            _run([*git, "remove", "--force", str(tree)], REPO_DIR, dict(os.environ))


def _short(revision: str) -> str:
    command = ["git", "-C", str(REPO_DIR), "rev-parse", "--short", revision]
    return _run(command, REPO_DIR, dict(os.environ)).strip()


def main() -> int:
    parser = argparse.ArgumentParser(description="Instructions per request, under callgrind.")
    parser.add_argument("scenario", choices=SCENARIOS)
    parser.add_argument("--against", metavar="REV", help="also measure this git revision")
    parser.add_argument("--requests", type=int, default=REQUESTS, help="N (a multiple of 16)")
    parser.add_argument("--drive", nargs=2, metavar=("URL", "KEY"), help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.requests <= 0 or arguments.requests % CONCURRENCY:
        parser.error(f"--requests must be a positive multiple of {CONCURRENCY}")
    if arguments.drive:
        import uvloop

        url, key = arguments.drive
        uvloop.run(_drive(arguments.scenario, url, key, arguments.requests))
        return 0

    figures: list[tuple[str, float]] = []
    if arguments.against:
        with _checkout(arguments.against) as tree:
            label = f"{arguments.against} ({_short(arguments.against)})"
            figures.append((label, _per_request(arguments.scenario, tree, arguments.requests)))
    label = f"this checkout ({_short('HEAD')})"
    figures.append((label, _per_request(arguments.scenario, REPO_DIR, arguments.requests)))
    print(
        f"{arguments.scenario}: instructions per request, whole stack in-process, "
        f"{CONCURRENCY} at a time (callgrind, {arguments.requests} requests after "
        f"{WARMUP_REQUESTS} of warm-up):"
    )
    for label, figure in figures:
        print(f"  {label:32} {figure:12,.0f}")
    if len(figures) == 2:
        print(f"  {'after/before':32} {figures[1][1] / figures[0][1]:12.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
