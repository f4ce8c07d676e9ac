"""`db-postgres-service migration NAME` (`make migration name=NAME`): the next numbered revision
of what the models add, formatted as `make lint` wants it, against a server or the embedded
PostgreSQL of `make run`, running or not.

The command runs in its own process on a copy of the checkout's migrations and pyproject.toml,
so that the checkout is never written to; a model change is a table added to the metadata in
that process, as a new resource's models.py would add it.
"""

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from alembic.script import ScriptDirectory
from sqlalchemy.engine import make_url

from alembic import command
from db_postgres_service.core.migrations import alembic_config
from db_postgres_service.dev.embedded_postgres import running_url
from db_postgres_service.dev.revisions import NO_CHANGE

from .conftest import ThrowAwayDatabases
from .helpers import asyncpg_dsn
from .serving import Service, serving_embedded

CHECKOUT = Path(__file__).resolve().parent.parent
# The project's last revision, and the number the next one gets.
LAST = ScriptDirectory(str(CHECKOUT / "alembic")).get_current_head()
assert LAST is not None
NEXT = f"{int(LAST) + 1:04d}"
# The command, with its migrations pointed at the copy and, with "projects", one table more.
_MIGRATION = """
import sys
from pathlib import Path

import sqlalchemy as sa

from db_postgres_service.cli import app
from db_postgres_service.core import migrations
from db_postgres_service.models import Base

migrations.script_location = lambda: Path(sys.argv[1])
if sys.argv[2] == "projects":
    sa.Table(
        "projects",
        Base.metadata,
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
    )
app(["migration", *sys.argv[3:]], prog_name="db-postgres-service")
"""


def _fresh_folder(prefix: str) -> Path:
    # Outside pytest's 0700 tmp tree, which the embedded server's account could not reach.
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    folder.chmod(0o755)
    return folder


@pytest.fixture
def checkout() -> Iterator[Path]:
    """A copy of what the command reads and writes: alembic/ and pyproject.toml (ruff's)."""
    folder = _fresh_folder("dps-checkout-")
    try:
        shutil.copytree(CHECKOUT / "alembic", folder / "alembic")
        shutil.copy(CHECKOUT / "pyproject.toml", folder / "pyproject.toml")
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def workdir() -> Iterator[Path]:
    folder = _fresh_folder("dps-clone-")
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def migration(
    checkout: Path, models: str, name: str, *, cwd: Path, database_url: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["NO_COLOR"] = "1"
    if database_url is not None:
        env["DATABASE_URL"] = database_url
    return subprocess.run(
        [sys.executable, "-c", _MIGRATION, str(checkout / "alembic"), models, name],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def revisions(checkout: Path) -> set[str]:
    return {path.name for path in (checkout / "alembic" / "versions").glob("*.py")}


def ruff(*arguments: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ruff", *arguments],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )


def databases_on(url: str) -> set[str]:
    async def fetch() -> set[str]:
        connection = await asyncpg.connect(asyncpg_dsn(url))
        try:
            rows = await connection.fetch("SELECT datname FROM pg_database")
        finally:
            await connection.close()
        return {row["datname"] for row in rows}

    return asyncio.run(fetch())


def columns(url: str, table: str) -> list[str]:
    async def fetch() -> list[str]:
        connection = await asyncpg.connect(asyncpg_dsn(url))
        try:
            rows = await connection.fetch(
                "SELECT column_name FROM information_schema.columns WHERE table_name = $1 "
                "ORDER BY ordinal_position",
                table,
            )
        finally:
            await connection.close()
        return [row["column_name"] for row in rows]

    return asyncio.run(fetch())


def written(checkout: Path, name: str) -> str:
    path = checkout / "alembic" / "versions" / f"{NEXT}_{name}.py"
    return f"Wrote {path} (revision {NEXT}, after {LAST}): read it, then keep it.\n"


def test_a_model_change_becomes_the_next_numbered_revision_and_passes_lint(
    checkout: Path, workdir: Path, server_url: str, databases: ThrowAwayDatabases
) -> None:
    before = revisions(checkout)

    result = migration(checkout, "projects", "add_projects", cwd=workdir, database_url=server_url)

    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == written(checkout, "add_projects")
    assert revisions(checkout) - before == {f"{NEXT}_add_projects.py"}
    scripts = ScriptDirectory(str(checkout / "alembic"))
    assert scripts.get_current_head() == NEXT
    revision = scripts.get_revision(NEXT)
    assert revision is not None
    assert (revision.revision, revision.down_revision) == (NEXT, LAST)
    path = checkout / "alembic" / "versions" / f"{NEXT}_add_projects.py"
    # With the copied pyproject.toml, exactly as `make lint` checks the checkout's.
    checked = ruff("check", str(path), cwd=checkout)
    assert checked.returncode == 0, checked.stdout
    formatted = ruff("format", "--check", str(path), cwd=checkout)
    assert formatted.returncode == 0, formatted.stdout
    # And it is the migration of that change: upgraded to, the database has the new table.
    upgraded = databases.create(migrated=False)
    config = alembic_config(upgraded)
    config.set_main_option("script_location", str(checkout / "alembic"))
    command.upgrade(config, "head")
    assert columns(upgraded, "projects") == ["id", "name"]
    # The scratch database it compared with is gone.
    assert not {name for name in databases_on(server_url) if name.startswith("dps_migration_")}


def test_without_a_model_change_it_refuses_and_writes_nothing(
    checkout: Path, workdir: Path, server_url: str
) -> None:
    before = revisions(checkout)

    result = migration(checkout, "as-they-are", "nothing", cwd=workdir, database_url=server_url)

    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == f"{NO_CHANGE}\n"
    assert revisions(checkout) == before


def test_a_name_that_would_be_no_file_name_is_refused(checkout: Path, workdir: Path) -> None:
    result = migration(checkout, "projects", "Add projects!", cwd=workdir)

    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == "NAME must be 1-40 of a-z 0-9 _, starting with a letter.\n"
    assert list(workdir.iterdir()) == []


def test_on_a_fresh_clone_it_uses_the_embedded_server_and_make_run_then_starts_as_usual(
    checkout: Path, workdir: Path
) -> None:
    result = migration(checkout, "projects", "add_projects", cwd=workdir)

    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == written(checkout, "add_projects")
    data = workdir / ".data" / "postgres"
    assert (data / "PG_VERSION").exists()
    assert not (data / "postmaster.pid").exists(), "the server it started was left running"
    # The service's database is left for `serve` to create, which then prints the dev key,
    # and its start-up line names that database, not the server's maintenance one.
    with serving_embedded(workdir, LOG_LEVEL="INFO", LOG_FORMAT="json") as service:
        logged = [json.loads(line) for line in service.output.splitlines() if line[:1] == "{"]
        started = [
            line["message"] for line in logged if line["message"].startswith("PostgreSQL (pid ")
        ]
        assert service.dev_key().startswith("dps_")
    assert len(started) == 1
    url = started[0].split(" serves ", 1)[1].split(", log ", 1)[0]
    assert make_url(url).database == "db_postgres_service"


def test_beside_make_run_it_uses_the_running_server_and_leaves_it_serving(
    service: Service, checkout: Path
) -> None:
    postmaster = service.postmaster_pid()

    result = migration(checkout, "projects", "add_projects", cwd=service.workdir)

    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == written(checkout, "add_projects")
    assert service.postmaster_pid() == postmaster
    assert service.ready()
    maintenance = running_url(service.workdir / ".data" / "postgres", "postgres")
    assert maintenance is not None
    assert databases_on(maintenance) == {
        "postgres",
        "template0",
        "template1",
        "db_postgres_service",
    }
