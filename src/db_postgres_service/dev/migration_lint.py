"""The migration lint: each migration's SQL, as Alembic's offline mode writes it, checked with
squawk (tests/test_migration_lint.py runs it in `make test`).

A hazard squawk reports passes only when the migration itself accepts its rule with a reason,
in a module-level mapping:

    SQUAWK_ACCEPTED = {"require-concurrent-index-creation": "users is created empty above"}

An acceptance that no hazard of the migration needs any more is reported too, so that none
outlives its reason.
"""

import io
import json
import subprocess
import sysconfig
from dataclasses import dataclass
from pathlib import Path

from alembic.config import Config
from alembic.script import Script

from alembic import command

# The module-level mapping, rule name -> reason, by which a migration accepts a hazard.
ACCEPTED = "SQUAWK_ACCEPTED"
# The oldest PostgreSQL the service is run and tested on: squawk's verdict on, for example, a
# column added with a default depends on the version (fast defaults came with 11).
POSTGRES_VERSION = "15.0"
NO_SQUAWK = (
    "squawk is not installed: install the dev extras "
    '(pip install -e ".[dev]"; `make test` does it).'
)


class LintError(RuntimeError):
    """The lint cannot run, or a migration's acceptances are malformed."""


@dataclass(frozen=True)
class Hazard:
    rule: str
    line: int
    message: str
    help: str | None
    statement: str

    def describe(self) -> str:
        advice = f" {self.help}" if self.help else ""
        return f"{self.rule} (SQL line {self.line}): {self.message}{advice}\n    {self.statement}"


@dataclass(frozen=True)
class Verdict:
    """What the lint says of one migration."""

    revision: str
    path: Path
    unaccepted: tuple[Hazard, ...]
    stale: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return not self.unaccepted and not self.stale

    def report(self) -> str:
        lines = [f"migration {self.revision} ({self.path}):"]
        lines += [f"  hazard {hazard.describe()}" for hazard in self.unaccepted]
        lines += [
            f"  {ACCEPTED} accepts {rule!r}, which squawk no longer reports: remove it"
            for rule in self.stale
        ]
        if self.unaccepted:
            lines.append(
                f"  Change the migration, or accept the rule with the reason it is safe here: "
                f'{ACCEPTED} = {{"{self.unaccepted[0].rule}": "..."}} (README, "Changing a '
                "resource's schema without downtime\")."
            )
        return "\n".join(lines)


def squawk_path() -> Path:
    """The squawk binary the squawk-cli wheel installed beside this interpreter's scripts."""
    binary = Path(sysconfig.get_path("scripts")) / "squawk"
    if not binary.is_file():
        raise LintError(NO_SQUAWK)
    return binary


def migration_sql(config: Config, script: Script) -> str:
    """What upgrading from the revision before `script` to `script` runs, as offline SQL: the
    session settings, then the migration between BEGIN and COMMIT."""
    output = io.StringIO()
    config.output_buffer = output
    before = script.down_revision
    if before is not None and not isinstance(before, str):
        raise LintError(f"migration {script.revision} merges branches; lint its parents")
    command.upgrade(config, f"{before}:{script.revision}" if before else script.revision, sql=True)
    return output.getvalue()


def hazards(sql: str, name: str) -> list[Hazard]:
    """squawk's findings in `sql`, reported as file `name`."""
    done = subprocess.run(  # noqa: S603 - the dev extras' squawk on SQL Alembic wrote
        [
            str(squawk_path()),
            "--reporter=json",
            f"--pg-version={POSTGRES_VERSION}",
            f"--stdin-filepath={name}",
        ],
        input=sql,
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        findings = json.loads(done.stdout)
    except json.JSONDecodeError:
        raise LintError(f"squawk failed ({done.returncode}): {done.stderr.strip()}") from None
    lines = sql.splitlines()
    return [
        Hazard(
            rule=finding["rule_name"],
            # squawk counts lines from 0.
            line=finding["line"] + 1,
            message=finding["message"],
            help=finding["help"],
            statement=lines[finding["line"]].strip() if finding["line"] < len(lines) else "",
        )
        for finding in findings
    ]


def acceptances(script: Script) -> dict[str, str]:
    """The rules the migration accepts, each with its reason."""
    accepted = getattr(script.module, ACCEPTED, {})
    if not isinstance(accepted, dict):
        raise LintError(f"{script.path}: {ACCEPTED} must be a dict of rule name -> reason")
    for rule, reason in accepted.items():
        if not isinstance(rule, str) or not isinstance(reason, str) or not reason.strip():
            raise LintError(f"{script.path}: {ACCEPTED}[{rule!r}] needs a reason, in words")
    return accepted


def lint(config: Config, script: Script) -> Verdict:
    found = hazards(migration_sql(config, script), f"{script.revision}.sql")
    accepted = acceptances(script)
    fired = {hazard.rule for hazard in found}
    return Verdict(
        revision=script.revision,
        path=Path(script.path),
        unaccepted=tuple(hazard for hazard in found if hazard.rule not in accepted),
        stale=tuple(sorted(set(accepted) - fired)),
    )
