"""The `db-postgres-service` command: serve, migrate."""

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from db_postgres_service.core.config import Settings
from db_postgres_service.core.embedded_postgres import EmbeddedPostgres, EmbeddedPostgresError
from db_postgres_service.core.logging import configure_logging
from db_postgres_service.core.migrations import upgrade_to_head

app = typer.Typer(help=__doc__, no_args_is_help=True, add_completion=False)
logger = logging.getLogger("db_postgres_service")

EMBEDDED_DATA_DIR = Path(".data/postgres")
EMBEDDED_DATABASE = "db_postgres_service"


@contextmanager
def database_url() -> Iterator[tuple[str, bool]]:
    """The configured database, or an embedded one when DATABASE_URL is not set.

    Yields the URL and whether it is the embedded server. The embedded server's data lives in
    `.data/postgres` and survives restarts; the server stops when this block ends, and also
    when this process dies (see EmbeddedPostgres).
    """
    settings = Settings()
    if "database_url" in settings.model_fields_set:
        yield settings.database_url, False
        return
    try:
        server = EmbeddedPostgres(EMBEDDED_DATA_DIR)
        server.start()
    except EmbeddedPostgresError as error:
        raise typer.Exit(_fail(str(error))) from None
    try:
        server.ensure_database(EMBEDDED_DATABASE)
        yield server.url_for(EMBEDDED_DATABASE), True
    finally:
        server.stop()


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
    configure_logging(settings.log_level)
    with database_url() as (url, embedded):
        # Worker processes build their own settings from the environment.
        os.environ["DATABASE_URL"] = url
        if migrate or embedded:
            upgrade_to_head(url)
        logger.info("serving on http://%s:%s with %s workers", host, port, workers)
        Server(
            "db_postgres_service.main:create_app",
            factory=True,
            interface=Interfaces.ASGI,
            address=host,
            port=port,
            workers=workers,
            log_level=LogLevels(settings.log_level.lower()),
            log_access=False,
        ).serve()


@app.command()
def migrate() -> None:
    """Upgrade the schema to the latest revision (safe to run from several instances at once)."""
    configure_logging(Settings().log_level)
    with database_url() as (url, _):
        upgrade_to_head(url)
        logger.info("schema is at the latest revision")
