"""The migration lint (dev/migration_lint.py): squawk on every migration's offline SQL, each
hazard accepted with a reason in the migration itself, or the test fails with squawk's words."""

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.config import Config
from alembic.script import Script, ScriptDirectory

from db_postgres_service.core.migrations import alembic_config, script_location
from db_postgres_service.dev.migration_lint import LintError, lint

# Every migration of the project, oldest first: a new one is linted without being listed.
MIGRATIONS = list(reversed(list(ScriptDirectory.from_config(alembic_config()).walk_revisions())))
HEAD = MIGRATIONS[-1].revision
NEXT = f"{int(HEAD) + 1:04d}"

_THROW_AWAY = '''"""a throw-away migration for the lint's own tests"""

import sqlalchemy as sa

from alembic import op

revision = "{revision}"
down_revision = "{head}"
branch_labels = None
depends_on = None
{accepted}

def upgrade() -> None:
{upgrade}


def downgrade() -> None:
    pass
'''


@pytest.fixture
def scripts(tmp_path: Path) -> Iterator[Path]:
    """A copy of the project's migrations, for a test to add one to."""
    copy = tmp_path / "alembic"
    shutil.copytree(script_location(), copy, ignore=shutil.ignore_patterns("__pycache__"))
    yield copy


def throw_away(scripts: Path, upgrade: str, accepted: str = "") -> tuple[Config, Script]:
    """The next migration after the project's head, with this body and these acceptances."""
    source = _THROW_AWAY.format(revision=NEXT, head=HEAD, accepted=accepted, upgrade=upgrade)
    (scripts / "versions" / f"{NEXT}_throw_away.py").write_text(source)
    config = alembic_config()
    config.set_main_option("script_location", str(scripts))
    script = ScriptDirectory.from_config(config).get_revision(NEXT)
    assert script is not None
    return config, script


@pytest.mark.parametrize("script", MIGRATIONS, ids=[script.revision for script in MIGRATIONS])
def test_every_hazard_of_a_migration_is_accepted_with_a_reason(script: Script) -> None:
    verdict = lint(alembic_config(), script)

    assert verdict.passed, verdict.report()


def test_an_index_built_without_concurrently_on_an_existing_table_is_reported(
    scripts: Path,
) -> None:
    config, script = throw_away(scripts, '    op.create_index("ix_users_email_2", "users", ["email"])')

    verdict = lint(config, script)

    assert [hazard.rule for hazard in verdict.unaccepted] == ["require-concurrent-index-creation"]
    assert verdict.unaccepted[0].statement == "CREATE INDEX ix_users_email_2 ON users (email);"
    assert "require-concurrent-index-creation" in verdict.report()
    assert not verdict.passed


def test_a_hazard_accepted_with_a_reason_passes(scripts: Path) -> None:
    config, script = throw_away(
        scripts,
        '    op.create_index("ix_users_email_2", "users", ["email"])',
        accepted='SQUAWK_ACCEPTED = {"require-concurrent-index-creation": "a test says so"}',
    )

    assert lint(config, script).passed


def test_an_index_built_concurrently_in_an_autocommit_block_passes(scripts: Path) -> None:
    config, script = throw_away(
        scripts,
        "    with op.get_context().autocommit_block():\n"
        '        op.drop_index("ix_users_email_2", postgresql_concurrently=True, if_exists=True)\n'
        '        op.create_index("ix_users_email_2", "users", ["email"],'
        " postgresql_concurrently=True, if_not_exists=True)",
    )

    verdict = lint(config, script)

    assert verdict.passed, verdict.report()


def test_an_acceptance_no_hazard_needs_is_reported(scripts: Path) -> None:
    config, script = throw_away(
        scripts,
        "    pass",
        accepted='SQUAWK_ACCEPTED = {"ban-drop-column": "nothing is dropped any more"}',
    )

    verdict = lint(config, script)

    assert verdict.stale == ("ban-drop-column",)
    assert not verdict.passed
    assert "'ban-drop-column', which squawk no longer reports" in verdict.report()


def test_an_acceptance_without_a_reason_is_refused(scripts: Path) -> None:
    config, script = throw_away(
        scripts,
        '    op.create_index("ix_users_email_2", "users", ["email"])',
        accepted='SQUAWK_ACCEPTED = {"require-concurrent-index-creation": " "}',
    )

    with pytest.raises(LintError, match="needs a reason"):
        lint(config, script)
