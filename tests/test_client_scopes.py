"""`clients grant` and `clients revoke-scope` change the scopes of an existing client's keys,
and the `dev` key of `make run` gets every scope the service declares at each start."""

import asyncio
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg
import httpx
import pytest

from db_postgres_service.api.authentication import CACHE_SECONDS
from db_postgres_service.dev.embedded_postgres import running_url

from .conftest import API_SCOPES, ThrowAwayDatabases
from .helpers import asyncpg_dsn
from .serving import Service, run_cli, serving, serving_embedded

ORGANIZATIONS = "/api/v1/organizations"
UNKNOWN_SCOPE_LINE = (
    "No route needs the scope 'orders:read'; give one or more of: "
    f"{', '.join(sorted(API_SCOPES))}\n"
)


ANYWHERE = Path(tempfile.gettempdir())


async def cli(*arguments: str, database_url: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(run_cli, *arguments, cwd=ANYWHERE, DATABASE_URL=database_url)


async def scopes_of(database_url: str, name: str) -> list[list[str]]:
    """The scopes of each of the client's keys, revoked ones too, oldest first."""
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        rows = await connection.fetch(
            "SELECT scopes FROM api_clients WHERE name = $1 ORDER BY id", name
        )
    finally:
        await connection.close()
    return [list(row["scopes"]) for row in rows]


async def new_key(database_url: str, name: str, *scopes: str) -> str:
    created = await cli(
        "clients",
        "create",
        name,
        *(f"--scope={scope}" for scope in scopes),
        database_url=database_url,
    )
    assert created.returncode == 0, created.stderr
    return created.stdout.strip()


def new_name() -> str:
    return f"billing-{uuid.uuid4().hex[:8]}"


async def status_of(client: httpx.AsyncClient, key: str, path: str = ORGANIZATIONS) -> int:
    response = await client.get(path, headers={"Authorization": f"Bearer {key}"})
    return response.status_code


async def status_within_cache_time(client: httpx.AsyncClient, key: str, expected: int) -> int:
    """The status of GET /organizations with `key` once it is `expected`, or the last one
    after the time a cached verdict may live (README: within 5 s)."""
    deadline = time.monotonic() + CACHE_SECONDS + 1
    while True:
        status = await status_of(client, key)
        if status == expected or time.monotonic() > deadline:
            return status
        await asyncio.sleep(0.2)


async def test_grant_adds_the_scope_to_every_active_key_and_the_key_is_then_authorized(
    client: httpx.AsyncClient, database_url: str
) -> None:
    name = new_name()
    old_key = await new_key(database_url, name, "users:read")
    key = await new_key(database_url, name, "users:read")
    # A finished rotation: the old key is revoked, and stays as it was.
    revoked = await cli("clients", "revoke", name, "--key", old_key[:12], database_url=database_url)
    assert revoked.returncode == 0, revoked.stderr
    assert await status_of(client, key) == 403

    granted = await cli(
        "clients", "grant", name, "--scope", "organizations:read", database_url=database_url
    )

    assert (granted.returncode, granted.stderr) == (0, "")
    assert granted.stdout == f"Granted organizations:read to 1 key(s) of '{name}'.\n"
    assert await scopes_of(database_url, name) == [
        ["users:read"],
        ["organizations:read", "users:read"],
    ]
    assert await status_within_cache_time(client, key, 200) == 200


async def test_revoke_scope_takes_the_scope_and_the_key_is_then_refused(
    client: httpx.AsyncClient, database_url: str
) -> None:
    name = new_name()
    key = await new_key(database_url, name, "users:read", "organizations:read")
    assert await status_of(client, key) == 200

    taken = await cli(
        "clients", "revoke-scope", name, "--scope", "organizations:read", database_url=database_url
    )

    assert (taken.returncode, taken.stderr) == (0, "")
    assert taken.stdout == f"Revoked organizations:read from 1 key(s) of '{name}'.\n"
    assert await scopes_of(database_url, name) == [["users:read"]]
    assert await status_within_cache_time(client, key, 403) == 403
    assert await status_of(client, key, "/api/v1/users") == 200


@pytest.mark.parametrize("command", ["grant", "revoke-scope"])
async def test_a_scope_no_route_declares_is_refused_and_nothing_changes(
    database_url: str, command: str
) -> None:
    name = new_name()
    await new_key(database_url, name, "users:read")

    result = await cli(
        "clients",
        command,
        name,
        "--scope",
        "users:write",
        "--scope",
        "orders:read",
        database_url=database_url,
    )

    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == UNKNOWN_SCOPE_LINE
    assert await scopes_of(database_url, name) == [["users:read"]]


@pytest.mark.parametrize("command", ["grant", "revoke-scope"])
async def test_an_unknown_client_is_one_line_and_a_failure(database_url: str, command: str) -> None:
    result = await cli(
        "clients",
        command,
        "nobody-by-that-name",
        "--scope",
        "users:read",
        database_url=database_url,
    )

    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == "No active key of 'nobody-by-that-name'.\n"
    assert await scopes_of(database_url, "nobody-by-that-name") == []


def test_each_start_on_the_embedded_database_gives_the_dev_key_every_declared_scope(
    service: Service,
) -> None:
    """A dev key made before organizations existed lacks their scopes: simulated by taking
    one away, the next `make run` gives it back (and prints no new key)."""
    url = running_url(service.workdir / ".data" / "postgres", "db_postgres_service")
    assert url is not None
    taken = run_cli(
        "clients", "revoke-scope", "dev", "--scope", "organizations:read", cwd=service.workdir
    )
    assert taken.returncode == 0, taken.stderr
    assert asyncio.run(scopes_of(url, "dev")) == [sorted(API_SCOPES - {"organizations:read"})]
    service.process.send_signal(signal.SIGTERM)
    assert service.process.wait(30) == 0

    with serving_embedded(service.workdir) as restarted:
        url = running_url(service.workdir / ".data" / "postgres", "db_postgres_service")
        assert url is not None
        assert asyncio.run(scopes_of(url, "dev")) == [sorted(API_SCOPES)]
        assert "dps_" not in restarted.output


def test_with_database_url_serve_leaves_a_dev_client_s_scopes_alone(
    databases: ThrowAwayDatabases,
) -> None:
    url = databases.create()
    created = run_cli(
        "clients", "create", "dev", "--scope", "users:read", cwd=ANYWHERE, DATABASE_URL=url
    )
    assert created.returncode == 0, created.stderr

    with serving(url):
        assert asyncio.run(scopes_of(url, "dev")) == [["users:read"]]
