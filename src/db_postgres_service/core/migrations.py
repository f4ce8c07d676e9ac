"""Running and inspecting Alembic migrations from code (CLI, readiness probe, tests)."""

from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory

from alembic import command
from db_postgres_service.core.migration_retries import LockPatience

# An arbitrary constant that names "schema migration" among this database's advisory locks.
MIGRATION_LOCK_KEY = 7_310_255_004_812_901
# Where alembic/env.py finds the LockPatience a caller chose (else it reads the settings).
LOCK_PATIENCE = "lock_patience"

_PACKAGE_DIR = Path(__file__).resolve().parent.parent


def script_location() -> Path:
    """The migration scripts: shipped inside the wheel, or the checkout's `alembic/` folder."""
    packaged = _PACKAGE_DIR / "_alembic"
    if packaged.is_dir():
        return packaged
    return _PACKAGE_DIR.parent.parent / "alembic"


def alembic_config(database_url: str | None = None, patience: LockPatience | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(script_location()))
    config.attributes["database_url"] = database_url
    config.attributes[LOCK_PATIENCE] = patience
    config.attributes["configure_logging"] = False
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError("The migration scripts define no head revision.")
    return head


def upgrade_to_head(database_url: str) -> None:
    """Bring the schema to the latest revision; safe to run from several instances at once.
    A step that waits for a lock longer than the settings allow is retried, then raises
    MigrationGaveUp (core/migration_retries.py).

    Runs its own event loop, so call it from synchronous code (or a worker thread).
    """
    command.upgrade(alembic_config(database_url), "head")
