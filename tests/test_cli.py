"""The `db-postgres-service` command beside a running service, and run from anywhere."""

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from db_postgres_service.cli import NO_DATABASE

from .conftest import ThrowAwayDatabases
from .serving import Service, run_cli


@pytest.fixture
def elsewhere() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="dps-cli-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_clients_create_beside_a_running_service_gives_a_key_it_accepts(
    service: Service,
) -> None:
    created = run_cli("clients", "create", "billing", "--scope", "users:read", cwd=service.workdir)

    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    answered = httpx.get(
        f"{service.base_url}/api/v1/users", headers={"Authorization": f"Bearer {key}"}
    )
    assert answered.status_code == 200
    listed = run_cli("clients", "list", cwd=service.workdir)
    assert listed.returncode == 0, listed.stderr
    assert [line.split("\t")[0] for line in listed.stdout.splitlines()] == ["billing", "dev"]


def test_the_cli_leaves_the_running_service_s_postgres_running(
    service: Service,
) -> None:
    postmaster = service.postmaster_pid()

    listed = run_cli("clients", "list", cwd=service.workdir)

    assert listed.returncode == 0, listed.stderr
    assert service.postmaster_pid() == postmaster
    assert service.ready()


@pytest.mark.parametrize("command", [["clients", "list"], ["migrate"]])
def test_from_a_folder_without_data_it_says_no_database_is_configured(
    elsewhere: Path, command: list[str]
) -> None:
    result = run_cli(*command, cwd=elsewhere)

    assert result.returncode == 1
    assert result.stderr.strip() == NO_DATABASE
    assert result.stdout == ""
    assert list(elsewhere.iterdir()) == []


def test_on_a_database_without_schema_it_says_to_migrate_first(
    databases: ThrowAwayDatabases, elsewhere: Path
) -> None:
    empty = databases.create(migrated=False)

    result = run_cli("clients", "list", cwd=elsewhere, DATABASE_URL=empty)

    assert result.returncode == 1
    assert result.stderr.strip() == (
        "The database has no schema yet: run `db-postgres-service migrate` first."
    )


def test_an_unreachable_database_is_one_line_not_a_traceback(elsewhere: Path) -> None:
    result = run_cli(
        "clients",
        "list",
        cwd=elsewhere,
        DATABASE_URL="postgresql://postgres@127.0.0.1:1/nothing",
        DB_CONNECT_TIMEOUT="2",
    )

    assert result.returncode == 1
    assert result.stderr.startswith("Cannot use the database: ")
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr
