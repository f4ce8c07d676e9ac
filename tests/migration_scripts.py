"""Test-only migrations: a copy of the project's alembic/ folder with one more revision after
its head, so that alembic/versions never holds a migration only a test needs; and what they
change in a database."""

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from alembic.config import Config
from alembic.script import Script, ScriptDirectory

from db_postgres_service.core.migration_retries import LockPatience
from db_postgres_service.core.migrations import alembic_config, head_revision, script_location

from .helpers import ARGON2_HASH, asyncpg_dsn

HEAD = head_revision()
NEXT = f"{int(HEAD) + 1:04d}"
README = Path(__file__).resolve().parent.parent / "README.md"
SCHEMA_CHANGES = "## Changing a resource's schema without downtime"

_REVISION = '''"""a test-only migration"""

import sqlalchemy as sa

from alembic import op

revision = "{revision}"
down_revision = "{head}"
branch_labels = None
depends_on = None


{body}


def downgrade() -> None:
    pass
'''


def readme_examples() -> tuple[str, str, str]:
    """The Python blocks of the README's schema-change section, as written: a migration that
    expands users (a column with a default, an index built concurrently), an acceptance of a
    hazard, and a migration that backfills users in batches."""
    text = README.read_text()
    start = text.index(SCHEMA_CHANGES)
    section = text[start : text.index("\n## ", start)]
    blocks = re.findall(r"```python\n(.*?)```", section, re.DOTALL)
    assert len(blocks) == 3, f"the section has {len(blocks)} Python blocks, not 3"
    return blocks[0], blocks[1], blocks[2]


EXPAND_USERS, ACCEPTANCE, BACKFILL_USERS = readme_examples()


def with_next_migration(folder: Path, body: str) -> Path:
    """A copy of the project's migrations in `folder`, with revision NEXT after HEAD, whose
    module holds `body` (its upgrade() and anything else) after the usual header."""
    scripts = folder / "alembic"
    shutil.copytree(script_location(), scripts, ignore=shutil.ignore_patterns("__pycache__"))
    source = _REVISION.format(revision=NEXT, head=HEAD, body=body.strip())
    (scripts / "versions" / f"{NEXT}_test_only.py").write_text(source)
    return scripts


def config_for(
    scripts: Path, database_url: str | None = None, patience: LockPatience | None = None
) -> Config:
    config = alembic_config(database_url, patience)
    config.set_main_option("script_location", str(scripts))
    return config


def next_script(config: Config) -> Script:
    script = ScriptDirectory.from_config(config).get_revision(NEXT)
    assert script is not None
    return script


async def add_users(url: str, count: int) -> None:
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await connection.execute(
            "INSERT INTO users (email, username, hashed_password)"
            " SELECT 'user' || n || '@example.com', 'user' || n, $1"
            " FROM generate_series(1, $2::int) AS n",
            ARGON2_HASH,
            count,
        )
        await connection.execute("ANALYZE users")
    finally:
        await connection.close()


@dataclass(frozen=True)
class UsersSchema:
    """The revision a database is at, and users' columns and indexes."""

    revision: str
    columns: frozenset[str]
    indexes: frozenset[str]
    invalid_indexes: frozenset[str]


async def users_schema(url: str) -> UsersSchema:
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        revision = await connection.fetchval("SELECT version_num FROM alembic_version")
        columns = await connection.fetch(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'users'"
        )
        indexes = await connection.fetch(
            "SELECT indexrelid::regclass::text AS name, indisvalid AS valid FROM pg_index"
            " WHERE indrelid = 'users'::regclass"
        )
        return UsersSchema(
            revision,
            frozenset(row["column_name"] for row in columns),
            frozenset(row["name"] for row in indexes),
            frozenset(row["name"] for row in indexes if not row["valid"]),
        )
    finally:
        await connection.close()
