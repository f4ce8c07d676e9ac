"""The `db-postgres-service` command: serve, relay, migrate, and manage API clients."""

import asyncio
import logging
import os
import re
import resource
import tempfile
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar

import asyncpg
import typer

from db_postgres_service.api.route_table import RouteTable
from db_postgres_service.clients import (
    create_client,
    grant_scopes,
    limit_client,
    list_clients,
    revoke_client,
    revoke_scopes,
)
from db_postgres_service.core.config import METRICS_DIR_VARIABLE, Settings
from db_postgres_service.core.logging import configure_logging
from db_postgres_service.core.migration_retries import MigrationGaveUp
from db_postgres_service.core.migrations import upgrade_to_head
from db_postgres_service.core.runtime import SERVER_PID_VARIABLE

app = typer.Typer(help=__doc__, no_args_is_help=True, add_completion=False)
clients_app = typer.Typer(
    help="Create, list and revoke the API keys of calling services, and change their scopes."
)
app.add_typer(clients_app, name="clients")
logger = logging.getLogger("db_postgres_service")

EMBEDDED_DATA_DIR = Path(".data/postgres")
EMBEDDED_DATABASE = "db_postgres_service"
# Every cluster has it (initdb makes it).
MAINTENANCE_DATABASE = "postgres"
# Connections the kernel completes and holds until a worker accepts them; Linux caps it at
# net.core.somaxconn (4096 by default).
LISTEN_BACKLOG = 4096


_CLIENT_NAME = re.compile(r"[A-Za-z0-9_.-]{1,100}")
# The client whose key `serve` prints on a fresh embedded database.
DEV_CLIENT = "dev"
# A revision's name becomes its file name after the number (0005_add_projects.py).
_REVISION_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")
NO_DATABASE = (
    "No database configured: set DATABASE_URL, or run this from the folder `make run` serves "
    "from (it keeps its data in .data/postgres)."
)
Result = TypeVar("Result")


@dataclass(frozen=True)
class Database:
    url: str
    embedded: bool
    created: bool


@contextmanager
def database(*, serving: bool = False, scratch: bool = False) -> Iterator[Database]:
    """The configured database, or the embedded one when DATABASE_URL is not set.

    The embedded server's data lives in `.data/postgres` and survives restarts. `serve` starts
    the server (creating the data on the first run) and stops it when this block ends, and also
    when this process dies (see EmbeddedPostgres). The other commands use the server a running
    `serve` holds, start one on existing data only for their own run, and never create data:
    run from another folder, they say so instead of starting an empty cluster there.

    `scratch` is for a command that makes its own throw-away databases on the server
    (`migration`): it gets the embedded server's maintenance database, and like `serve` it may
    create the data of a fresh checkout, but it leaves the service's database for `serve` to
    create (which prints the dev key when it does).
    """
    settings = Settings()
    if "database_url" in settings.model_fields_set:
        yield Database(settings.database_url, embedded=False, created=False)
        return
    # Only here: a production server, which has DATABASE_URL, never loads the launcher.
    from db_postgres_service.dev.embedded_postgres import (
        EmbeddedPostgres,
        EmbeddedPostgresError,
        running_url,
    )

    name = MAINTENANCE_DATABASE if scratch else EMBEDDED_DATABASE
    running = running_url(EMBEDDED_DATA_DIR, name)
    if running is not None:
        if serving:
            raise typer.Exit(
                _fail(f"{EMBEDDED_DATA_DIR} is already being served; stop that first.")
            )
        yield Database(running, embedded=True, created=False)
        return
    if not (serving or scratch) and not (EMBEDDED_DATA_DIR / "PG_VERSION").exists():
        raise typer.Exit(_fail(NO_DATABASE))
    try:
        server = EmbeddedPostgres(EMBEDDED_DATA_DIR)
        server.start()
    except EmbeddedPostgresError as error:
        raise typer.Exit(_fail(str(error))) from None
    try:
        created = server.ensure_database(name)
        url = server.url_for(name)
        logger.info("PostgreSQL (pid %s) serves %s, log %s", server.pid, url, server.log_path)
        yield Database(url, embedded=True, created=created)
    finally:
        server.stop()


def _run(work: Coroutine[Any, Any, Result]) -> Result:
    """Run a command's database work; a database it cannot use is one line, not a traceback."""
    try:
        return asyncio.run(work)
    except asyncpg.UndefinedTableError:
        raise typer.Exit(
            _fail("The database has no schema yet: run `db-postgres-service migrate` first.")
        ) from None
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
        raise typer.Exit(_fail(f"Cannot use the database: {error}")) from None


def _upgrade(url: str) -> None:
    """Migrate to head; a step that never got its locks is one line, not a traceback."""
    try:
        upgrade_to_head(url)
    except MigrationGaveUp as error:
        raise typer.Exit(_fail(str(error))) from None


@contextmanager
def metrics_directory() -> Iterator[None]:
    """A fresh folder where every worker writes its metric samples (prometheus multiprocess).

    Set before the workers start so that each imports prometheus_client in multiprocess mode;
    an operator's own PROMETHEUS_MULTIPROC_DIR is respected and left in place.
    """
    if os.environ.get(METRICS_DIR_VARIABLE):
        yield
        return
    with tempfile.TemporaryDirectory(prefix="dps-metrics-") as folder:
        os.environ[METRICS_DIR_VARIABLE] = folder
        try:
            yield
        finally:
            del os.environ[METRICS_DIR_VARIABLE]


def allow_open_files(connections: int) -> None:
    """Raise this process's (and so its workers') open-file limit toward the hard limit.

    Every connection is a file descriptor, and a soft limit of 1024 is common: without this
    a worker would stop accepting long before its connection limit.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    # Room for the database pools, logs and the interpreter's own files beside connections.
    wanted = connections + 1024
    if hard != resource.RLIM_INFINITY:
        wanted = min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def _fail(message: str) -> int:
    typer.secho(message, err=True, fg=typer.colors.RED)
    return 1


@app.command()
def serve(
    host: Annotated[str, typer.Option(envvar="HOST", help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(envvar="PORT", help="Port to bind.")] = 8000,
    workers: Annotated[
        int, typer.Option(envvar="WEB_CONCURRENCY", min=1, help="Worker processes.")
    ] = 2,
    migrate: Annotated[
        bool, typer.Option("--migrate", help="Upgrade the schema before serving.")
    ] = False,
) -> None:
    """Run the production server (granian). Without DATABASE_URL, on an embedded PostgreSQL."""
    # Imported here so that `migrate` and `clients` start without loading the server.
    from granian.constants import Interfaces
    from granian.log import LogLevels
    from granian.server import Server

    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    allow_open_files(settings.max_connections_per_worker * workers)
    with database(serving=True) as db, metrics_directory():
        # Worker processes build their own settings from the environment, and stop when this
        # process dies (core/runtime.py).
        os.environ["DATABASE_URL"] = db.url
        os.environ[SERVER_PID_VARIABLE] = str(os.getpid())
        # Each worker applies its part of a client's limit of requests in flight.
        os.environ["WEB_CONCURRENCY"] = str(workers)
        if migrate or db.embedded:
            _upgrade(db.url)
        if db.created:
            # A newcomer's first run: a key to try /docs with at once, shown this one time.
            key = asyncio.run(create_client(db.url, DEV_CLIENT, sorted(api_scopes())))
            typer.secho(f"API key of the 'dev' client (all scopes): {key}", fg="green")
        elif db.embedded:
            # The dev key keeps "all scopes" true as resources are added: it gets theirs at
            # the next start (when it still exists; never on a DATABASE_URL database).
            asyncio.run(grant_scopes(db.url, DEV_CLIENT, sorted(api_scopes())))
        logger.info(
            "serving on http://%s:%s with %s workers",
            host,
            port,
            workers,
            extra={"event": "serve", "address": f"{host}:{port}", "workers": workers},
        )
        Server(
            "db_postgres_service.main:create_app",
            factory=True,
            interface=Interfaces.ASGI,
            address=host,
            port=port,
            workers=workers,
            log_level=LogLevels(settings.log_level.lower()),
            log_access=False,
            # granian holds a permit per open connection, not per request: kept far above any
            # caller's pool, so that every connection is accepted and answered, while the app
            # bounds the requests that run (api/admission.py).
            backpressure=settings.max_connections_per_worker,
            backlog=LISTEN_BACKLOG,
            # A worker that dies (OOM killer, kill -9) is replaced; the other keeps serving
            # on the shared socket meanwhile.
            respawn_failed_workers=True,
            # On SIGTERM: stop accepting, finish requests in flight, kill only after this.
            workers_kill_timeout=settings.shutdown_grace_seconds,
        ).serve()


@app.command()
def relay(
    host: Annotated[
        str, typer.Option(envvar="HOST", help="Address of /health and /metrics.")
    ] = "127.0.0.1",
) -> None:
    """Publish every event of the change feed to RabbitMQ (AMQP_URL, RELAY_EXCHANGE).

    At least once and in feed order, with publisher confirms; one relay per database and
    exchange publishes at a time, others wait to take over. /health and /metrics on
    RELAY_PORT. Needs a session-mode database connection (a session advisory lock)."""
    # Imported here so that the other commands start without loading the broker's client.
    from db_postgres_service.relay.runner import run_relay

    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    with database() as db:
        asyncio.run(run_relay(Settings(database_url=db.url), host))


@app.command()
def migrate() -> None:
    """Upgrade the schema to the latest revision (safe to run from several instances at once)."""
    configure_logging(Settings().log_level)
    with database() as db:
        _upgrade(db.url)
        logger.info("schema is at the latest revision")


@app.command()
def migration(
    name: Annotated[str, typer.Argument(help="What it does, e.g. add_projects.")],
) -> None:
    """Write the next numbered migration (0005_NAME.py after 0004) from what the models add.

    Compared against a scratch database at head on the embedded server (the one of `make
    run`, running or not) or DATABASE_URL's server, then formatted with ruff. Refuses, and
    writes nothing, when the models add nothing.
    """
    if not _REVISION_NAME.fullmatch(name):
        raise typer.Exit(_fail("NAME must be 1-40 of a-z 0-9 _, starting with a letter."))
    # Only here: a development command, which the service itself never needs.
    from db_postgres_service.dev.revisions import RevisionError, write_revision

    with database(scratch=True) as db:
        try:
            path, revision, after = write_revision(db.url, name)
        except RevisionError as error:
            raise typer.Exit(_fail(str(error))) from None
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            raise typer.Exit(_fail(f"Cannot use the database: {error}")) from None
    typer.echo(f"Wrote {path} (revision {revision}, after {after}): read it, then keep it.")


ScopeOption = Annotated[
    list[str],
    typer.Option(
        "--scope",
        help="Repeat for each scope the client needs (`clients scopes` lists them).",
    ),
]


def api_scopes() -> frozenset[str]:
    """The scopes the routes declare (api/scopes.py); imported here, as it loads every route."""
    from db_postgres_service.main import create_app

    return RouteTable(create_app().routes).scopes


def _declared(scopes: list[str]) -> list[str]:
    """The scopes given, each one a route declares; else the command ends with one line."""
    known = api_scopes()
    unknown = sorted(set(scopes) - known)
    if not scopes or unknown:
        problem = f"No route needs the scope {unknown[0]!r}" if unknown else "No --scope given"
        raise typer.Exit(_fail(f"{problem}; give one or more of: {', '.join(sorted(known))}"))
    return sorted(set(scopes))


MaxInFlightOption = Annotated[
    int | None,
    typer.Option(
        "--max-in-flight",
        min=1,
        help="The most requests of the client in flight on one instance, split among its "
        "workers (README: Sharing the service between many callers).",
    ),
]


@clients_app.command("create")
def clients_create(name: str, scope: ScopeOption, max_in_flight: MaxInFlightOption = None) -> None:
    """Create a key for NAME and print it once; a second key for NAME starts a rotation."""
    if not _CLIENT_NAME.fullmatch(name):
        raise typer.Exit(_fail("NAME must be 1-100 characters of A-Z a-z 0-9 _ . -"))
    scopes = _declared(scope)
    with database() as db:
        key = _run(create_client(db.url, name, scopes, max_in_flight=max_in_flight))
    typer.echo(key)
    typer.secho("Store it now: only its hash is kept.", err=True, fg="yellow")


@clients_app.command("scopes")
def clients_scopes() -> None:
    """Every scope a key can hold: those the routes declare."""
    for scope in sorted(api_scopes()):
        typer.echo(scope)


@clients_app.command("list")
def clients_list() -> None:
    """Every key: client, key prefix, scopes, created and revoked times, the client's limit."""
    with database() as db:
        keys = _run(list_clients(db.url))
    for key in keys:
        revoked = f"revoked {key.revoked_at:%Y-%m-%d %H:%M:%S}" if key.revoked_at else "active"
        limit = "no limit" if key.max_in_flight is None else f"max {key.max_in_flight} in flight"
        typer.echo(
            f"{key.name}\t{key.key_prefix}…\t{','.join(key.scopes)}\t"
            f"created {key.created_at:%Y-%m-%d %H:%M:%S}\t{revoked}\t{limit}"
        )


@clients_app.command("revoke")
def clients_revoke(
    name: str,
    key: Annotated[
        str | None, typer.Option(help="Revoke only the key starting with this prefix.")
    ] = None,
) -> None:
    """Revoke NAME's keys (or one of them); every instance refuses them within 5 s."""
    with database() as db:
        prefix = key.removesuffix("…") if key else None
        revoked = _run(revoke_client(db.url, name, prefix))
    if not revoked:
        raise typer.Exit(_fail(f"No active key of {name!r} matched."))
    typer.echo(f"Revoked {revoked} key(s) of {name!r}.")


@clients_app.command("grant")
def clients_grant(name: str, scope: ScopeOption) -> None:
    """Add scopes to every active key of NAME; every instance applies it within 5 s."""
    scopes = _declared(scope)
    keys = _change_scopes(name, grant_scopes, scopes)
    typer.echo(f"Granted {', '.join(scopes)} to {keys} key(s) of {name!r}.")


@clients_app.command("limit")
def clients_limit(
    name: str,
    max_in_flight: MaxInFlightOption = None,
    unlimited: Annotated[
        bool, typer.Option("--unlimited", help="Remove the client's limit.")
    ] = False,
) -> None:
    """Set or remove NAME's limit of requests in flight; every instance applies it within 5 s."""
    if (max_in_flight is None) == (not unlimited):
        raise typer.Exit(_fail("Give exactly one of --max-in-flight N and --unlimited."))
    with database() as db:
        changed = _run(limit_client(db.url, name, max_in_flight))
    if not changed:
        raise typer.Exit(_fail(f"No active key of {name!r}."))
    if max_in_flight is None:
        typer.echo(f"{name!r} has no limit of requests in flight now.")
    else:
        typer.echo(f"{name!r} may have at most {max_in_flight} requests in flight per instance.")


@clients_app.command("revoke-scope")
def clients_revoke_scope(name: str, scope: ScopeOption) -> None:
    """Remove scopes from every active key of NAME; every instance applies it within 5 s."""
    scopes = _declared(scope)
    keys = _change_scopes(name, revoke_scopes, scopes)
    typer.echo(f"Revoked {', '.join(scopes)} from {keys} key(s) of {name!r}.")


def _change_scopes(
    name: str, change: Callable[[str, str, list[str]], Coroutine[Any, Any, int]], scopes: list[str]
) -> int:
    """How many active keys of NAME `change` applied to; the command ends if none."""
    with database() as db:
        keys = _run(change(db.url, name, scopes))
    if not keys:
        raise typer.Exit(_fail(f"No active key of {name!r}."))
    return keys
