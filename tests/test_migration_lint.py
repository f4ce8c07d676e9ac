"""The migration lint (dev/migration_lint.py): squawk on every migration's offline SQL, each
hazard accepted with a reason in the migration itself, or the test fails with squawk's words."""

from pathlib import Path

import pytest
from alembic.config import Config
from alembic.script import Script, ScriptDirectory

from db_postgres_service.core.migrations import alembic_config
from db_postgres_service.dev.migration_lint import LintError, lint

from .migration_scripts import (
    ACCEPTANCE,
    BACKFILL_USERS,
    EXPAND_USERS,
    config_for,
    next_script,
    with_next_migration,
)

# Every migration of the project, oldest first: a new one is linted without being listed.
MIGRATIONS = list(reversed(list(ScriptDirectory.from_config(alembic_config()).walk_revisions())))
BLOCKING_INDEX = """
def upgrade() -> None:
    op.create_index("ix_users_email_2", "users", ["email"])
"""
DROPPED_COLUMN = """
def upgrade() -> None:
    op.drop_column("users", "nickname")
"""


def next_migration(folder: Path, body: str) -> tuple[Config, Script]:
    """The next migration after the project's head, holding `body`."""
    config = config_for(with_next_migration(folder, body))
    return config, next_script(config)


@pytest.mark.parametrize("script", MIGRATIONS, ids=[script.revision for script in MIGRATIONS])
def test_every_hazard_of_a_migration_is_accepted_with_a_reason(script: Script) -> None:
    verdict = lint(alembic_config(), script)

    assert verdict.passed, verdict.report()


def test_an_index_built_without_concurrently_on_an_existing_table_is_reported(
    tmp_path: Path,
) -> None:
    config, script = next_migration(tmp_path, BLOCKING_INDEX)

    verdict = lint(config, script)

    assert [hazard.rule for hazard in verdict.unaccepted] == ["require-concurrent-index-creation"]
    assert verdict.unaccepted[0].statement == "CREATE INDEX ix_users_email_2 ON users (email);"
    assert "hazard require-concurrent-index-creation (SQL line 9)" in verdict.report()
    assert not verdict.passed


def test_a_hazard_the_migration_accepts_with_a_reason_passes(tmp_path: Path) -> None:
    config, script = next_migration(tmp_path, ACCEPTANCE + DROPPED_COLUMN)

    assert lint(config, script).passed
    assert lint(*next_migration(tmp_path / "without", DROPPED_COLUMN)).unaccepted[0].rule == (
        "ban-drop-column"
    )


def test_the_readme_s_column_and_concurrent_index_pass(tmp_path: Path) -> None:
    config, script = next_migration(tmp_path, EXPAND_USERS)

    verdict = lint(config, script)

    assert verdict.passed, verdict.report()


def test_the_readme_s_backfill_in_batches_passes(tmp_path: Path) -> None:
    config, script = next_migration(tmp_path, BACKFILL_USERS)

    verdict = lint(config, script)

    assert verdict.passed, verdict.report()


def test_an_acceptance_no_hazard_needs_is_reported(tmp_path: Path) -> None:
    config, script = next_migration(tmp_path, ACCEPTANCE + "\ndef upgrade() -> None:\n    pass")

    verdict = lint(config, script)

    assert verdict.stale == ("ban-drop-column",)
    assert not verdict.passed
    assert "accepts 'ban-drop-column', which squawk no longer reports" in verdict.report()


def test_an_acceptance_without_a_reason_is_refused(tmp_path: Path) -> None:
    config, script = next_migration(
        tmp_path, 'SQUAWK_ACCEPTED = {"ban-drop-column": " "}\n' + DROPPED_COLUMN
    )

    with pytest.raises(LintError, match="needs a reason"):
        lint(config, script)
