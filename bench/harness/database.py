"""The PostgreSQL server of a run and its two throw-away databases.

With DATABASE_URL, two uniquely named databases are created on that server and dropped at the
end (never anything else). Without it, an embedded PostgreSQL listening on a free loopback port
is started in a temporary folder and removed at the end.
"""

import asyncio
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg  # type: ignore[import-untyped,unused-ignore]
from sqlalchemy.engine import URL, make_url

from bench.harness.config import (
    BCRYPT_HASH,
    MEMBERS_PER_ORGANIZATION,
    SEEDED_ORGANIZATIONS,
    SEEDED_USERS,
)
from bench.harness.ports import free_port
from db_postgres_service.dev.embedded_postgres import EmbeddedPostgres


@dataclass(frozen=True)
class Databases:
    """SQLAlchemy asyncpg URLs of the service's and the baseline's databases."""

    server: str
    service: str
    baseline: str
    embedded: bool


def asyncpg_url(url: str) -> str:
    """The URL as SQLAlchemy + asyncpg want it (operators often give postgresql://)."""
    return _render(make_url(url).set(drivername="postgresql+asyncpg"))


def libpq_dsn(url: str) -> str:
    """The libpq form of a SQLAlchemy URL, for asyncpg.connect()."""
    return _render(make_url(url).set(drivername="postgresql"))


def with_database(url: str, database: str) -> str:
    return _render(make_url(url).set(database=database))


def printable(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def _render(url: URL) -> str:
    return url.render_as_string(hide_password=False)


def pgbench_connection(url: str) -> tuple[list[str], dict[str, str]]:
    """pgbench's connection options and environment (the password) for a database URL."""
    parsed = make_url(url)
    host = parsed.host or str(parsed.query.get("host") or "127.0.0.1")
    port = parsed.port or int(str(parsed.query.get("port") or 5432))
    options = [f"--host={host}", f"--port={port}", f"--username={parsed.username or 'postgres'}"]
    env = {"PGPASSWORD": parsed.password} if parsed.password else {}
    return [*options, str(parsed.database)], env


async def _execute(url: str, *statements: str) -> None:
    connection = await asyncpg.connect(libpq_dsn(url))
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


def _create_databases(server_url: str) -> Databases:
    suffix = uuid.uuid4().hex[:10]
    names = (f"dps_bench_{suffix}", f"dps_bench_baseline_{suffix}")
    for name in names:
        asyncio.run(_execute(server_url, f'CREATE DATABASE "{name}"'))
    return Databases(
        server=server_url,
        service=with_database(server_url, names[0]),
        baseline=with_database(server_url, names[1]),
        embedded=False,
    )


def _drop_databases(databases: Databases) -> None:
    for url in (databases.service, databases.baseline):
        name = make_url(url).database
        # Only the two names this run made up; FORCE ends connections a crashed run left.
        assert name is not None
        assert name.startswith("dps_bench_")
        asyncio.run(_execute(databases.server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextmanager
def _embedded_server() -> Iterator[str]:
    # A folder the unprivileged account PostgreSQL runs as (when started as root) can reach.
    folder = Path(tempfile.mkdtemp(prefix="dps-bench-pg-"))
    folder.chmod(0o755)
    server = EmbeddedPostgres(folder / "data", port=free_port(), listen_tcp=True)
    try:
        server.start()
        yield server.url
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def provision(database_url: str | None) -> Iterator[Databases]:
    """Two empty databases for the run, gone again when the block ends."""
    if database_url:
        databases = _create_databases(asyncpg_url(database_url))
        try:
            yield databases
        finally:
            _drop_databases(databases)
        return
    with _embedded_server() as server_url:
        databases = _create_databases(server_url)
        yield Databases(databases.server, databases.service, databases.baseline, embedded=True)


_SEED = """
INSERT INTO users (email, username, hashed_password, version)
SELECT 'user' || n || '@example.com', 'user' || n, $1, 1
FROM generate_series(1, $2::integer) AS n
"""


async def _seed(url: str) -> int:
    connection = await asyncpg.connect(libpq_dsn(url))
    try:
        await connection.execute(_SEED, BCRYPT_HASH, SEEDED_USERS)
        await connection.execute("VACUUM ANALYZE users")
        highest: int = await connection.fetchval("SELECT max(id) FROM users")
        return highest
    finally:
        await connection.close()


_SEED_ORGANIZATIONS = """
INSERT INTO organizations (slug, name)
SELECT 'org-' || n, 'Organization ' || n FROM generate_series(1, $1::integer) AS n
"""
# Organization k has the users (k - 1) * m + 1 .. k * m, the first of them its owner; inserted
# in one statement, so the owner rule sees every organization with its owner.
_SEED_MEMBERSHIPS = """
INSERT INTO memberships (organization_id, user_id, role)
SELECT o, (o - 1) * $2::integer + i, CASE WHEN i = 1 THEN 'owner' ELSE 'member' END
FROM generate_series(1, $1::integer) AS o, generate_series(1, $2::integer) AS i
"""


async def _seed_organizations(url: str) -> int:
    connection = await asyncpg.connect(libpq_dsn(url))
    try:
        await connection.execute(_SEED_ORGANIZATIONS, SEEDED_ORGANIZATIONS)
        await connection.execute(_SEED_MEMBERSHIPS, SEEDED_ORGANIZATIONS, MEMBERS_PER_ORGANIZATION)
        await connection.execute("VACUUM ANALYZE organizations")
        await connection.execute("VACUUM ANALYZE memberships")
        highest: int = await connection.fetchval("SELECT max(id) FROM organizations")
        return highest
    finally:
        await connection.close()


def seed_organizations(url: str) -> None:
    """SEEDED_ORGANIZATIONS organizations with ids 1..N, slugs org-N, ten members each."""
    highest = asyncio.run(_seed_organizations(url))
    if highest != SEEDED_ORGANIZATIONS:
        raise RuntimeError(
            f"seeding {printable(url)} gave organization ids up to {highest}, "
            f"not {SEEDED_ORGANIZATIONS}"
        )


def seed_users(url: str) -> None:
    """SEEDED_USERS users with ids 1..N, usernames userN and emails userN@example.com."""
    highest = asyncio.run(_seed(url))
    if highest != SEEDED_USERS:
        raise RuntimeError(f"seeding {printable(url)} gave ids up to {highest}, not {SEEDED_USERS}")
