"""The one place where database failures become errors with meaning for the caller.

Constraint violations are read by the constraint's conventional name (models/base.py) and the
tables' declarations: a table names its rows with `info={"noun": ...}`, and the rules its
triggers enforce with `info={"rules": {name: problem}}`, so a feature's constraints map without
a line here.
"""

from collections.abc import Callable

import asyncpg
from sqlalchemy import Table

from db_postgres_service.core.database import PoolTimeout
from db_postgres_service.core.errors import (
    Conflict,
    NotFound,
    ServiceError,
    ServiceUnavailable,
    ValidationFailed,
)
from db_postgres_service.models.base import Base

UNIQUE_VIOLATION = "23505"
FOREIGN_KEY_VIOLATION = "23503"
CHECK_VIOLATION = "23514"
NOT_NULL_VIOLATION = "23502"
SERIALIZATION_FAILURE = "40001"
DEADLOCK_DETECTED = "40P01"
QUERY_CANCELED = "57014"
CHARACTER_NOT_IN_REPERTOIRE = "22021"
# Class 08 is "connection exception", 57P0x is "operator intervention" (shutdown, crash
# recovery, cannot-connect-now) and 53 is "insufficient resources" (e.g. too many connections).
# Class 28 (the server refuses the login: role not permitted to log in, password rotated) and
# 3D000 (the database does not exist) only arise when opening a connection: the database is
# out of the service's reach, which is not a bug in a request. 25006 is a write sent to a
# read-only standby, as happens for a moment during a failover; class 58 is a server I/O error.
_UNAVAILABLE_PREFIXES = ("08", "57P", "53", "28", "3D000", "25006", "58")


# Exception classes whose instances may be database trouble rather than bugs.
DATABASE_FAILURES: tuple[type[Exception], ...] = (
    PoolTimeout,
    OSError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    # The driver lost track of the protocol, as when the server ended the connection while
    # it sat in the pool and the next statement raced the news.
    asyncpg.InternalClientError,
)


def _sqlstate(error: Exception) -> str | None:
    state = getattr(error, "sqlstate", None)
    return state if isinstance(state, str) else None


def _diagnostic(error: Exception, field: str) -> str | None:
    """One of PostgreSQL's diagnostic fields, as the driver's exception carries them."""
    value = getattr(error, field, None)
    return value if isinstance(value, str) else None


class TransactionCollided(Exception):
    """Raised in place of an answer to a request whose transaction collided, so that the layer
    that runs requests again (api/retries.py) does."""

    def __init__(self, error: Exception) -> None:
        super().__init__("the request's transaction collided with another")
        self.error = error


def collided(error: Exception) -> bool:
    """Whether PostgreSQL ended the transaction for colliding with another (a serialization
    failure or a deadlock): the same transaction run again may well succeed."""
    return isinstance(error, asyncpg.PostgresError) and _sqlstate(error) in {
        SERIALIZATION_FAILURE,
        DEADLOCK_DETECTED,
    }


# Tables served beside the service's own metadata (a resource declared on a MetaData of its
# own, as the tests' resources are), by name.
_SERVED_ELSEWHERE: dict[str, Table] = {}


def serve_table(table: Table) -> None:
    """Map the errors of a table that is not on the service's metadata by its declaration too."""
    if Base.metadata.tables.get(table.name) is not table:
        _SERVED_ELSEWHERE[table.name] = table


def _tables() -> dict[str, Table]:
    return {**_SERVED_ELSEWHERE, **Base.metadata.tables}


def _noun(table_name: str | None) -> str:
    """What a row of the table is called in problems, as the table declares it."""
    table = _tables().get(table_name or "")
    noun = table.info.get("noun") if table is not None else None
    return noun if isinstance(noun, str) else "row"


def _referred_table(constraint: str) -> Table | None:
    """The table a foreign key `fk_<table>_<columns>_<referred table>` points at."""
    ending = [table for name, table in _tables().items() if constraint.endswith(f"_{name}")]
    return max(ending, key=lambda table: len(table.name), default=None)


def _unique_violation(error: Exception) -> ServiceError | None:
    """409 naming the field, from the constraint's conventional name `uq_<table>_<field>`."""
    constraint, table = _diagnostic(error, "constraint_name"), _diagnostic(error, "table_name")
    prefix = f"uq_{table}_"
    if constraint is None or table is None or not constraint.startswith(prefix):
        return None
    return Conflict(constraint.removeprefix(prefix), noun=_noun(table))


def _foreign_key_violation(error: Exception) -> ServiceError:
    """404 `missing`: the row a write points at does not exist (or was deleted meanwhile)."""
    constraint = _diagnostic(error, "constraint_name") or ""
    referred = _referred_table(constraint)
    noun = _noun(referred.name if referred is not None else None)
    return NotFound(f"The {noun} this request refers to does not exist.", missing=noun)


def _declared_rule(error: Exception) -> ServiceError | None:
    """The problem a table declares for the rule its trigger raised (`RAISE ... USING
    CONSTRAINT = <rule>, TABLE = <table>`), built from the error's detail."""
    table = _tables().get(_diagnostic(error, "table_name") or "")
    rules = table.info.get("rules", {}) if table is not None else {}
    problem: Callable[[str | None], ServiceError | None] | None = rules.get(
        _diagnostic(error, "constraint_name")
    )
    return problem(_diagnostic(error, "detail")) if problem is not None else None


def _broken_rule(error: Exception, state: str) -> ServiceError:
    """422: a row the request would write breaks a rule of its table (or the table's own
    problem for a rule it declares)."""
    declared = _declared_rule(error) if state == CHECK_VIOLATION else None
    if declared is not None:
        return declared
    noun = _noun(_diagnostic(error, "table_name"))
    if state == NOT_NULL_VIOLATION:
        column = _diagnostic(error, "column_name") or "body"
        errors = [{"loc": ["body", column], "msg": "must not be null"}]
        return ValidationFailed(errors, f"The {noun}'s {column} must not be null.")
    constraint = _diagnostic(error, "constraint_name") or "a check"
    errors = [{"loc": ["body"], "msg": f"breaks the rule {constraint}"}]
    return ValidationFailed(errors, f"The {noun} would break the rule {constraint}.")


def map_database_error(error: Exception) -> ServiceError | None:
    """Translate a database or pool failure into a ServiceError, or None for a genuine bug."""
    if isinstance(error, PoolTimeout):
        return ServiceUnavailable("All database connections are busy; retry shortly.")
    if isinstance(error, OSError):
        return ServiceUnavailable(
            "The database is unreachable; retry shortly.", retry_after_seconds=2
        )
    if isinstance(error, asyncpg.InterfaceError | asyncpg.InternalClientError):
        return ServiceUnavailable(
            "The database connection was lost; retry shortly.", retry_after_seconds=2
        )
    if not isinstance(error, asyncpg.PostgresError):
        return None
    state = _sqlstate(error)
    if state == UNIQUE_VIOLATION:
        return _unique_violation(error)
    if state == FOREIGN_KEY_VIOLATION:
        return _foreign_key_violation(error)
    if state in {CHECK_VIOLATION, NOT_NULL_VIOLATION}:
        return _broken_rule(error, state)
    if state == CHARACTER_NOT_IN_REPERTOIRE:
        return ValidationFailed(
            [{"loc": ["body"], "msg": "text cannot contain the NUL character"}],
            "The request holds text PostgreSQL cannot store.",
        )
    if state == QUERY_CANCELED:
        return ServiceUnavailable("The database statement timed out; retry shortly.")
    if state in {SERIALIZATION_FAILURE, DEADLOCK_DETECTED}:
        return ServiceUnavailable(
            "The transaction kept colliding with others; retry it.", retry_after_seconds=0
        )
    if state is not None and state.startswith(_UNAVAILABLE_PREFIXES):
        return ServiceUnavailable(
            "The database is unavailable; retry shortly.", retry_after_seconds=2
        )
    return None
