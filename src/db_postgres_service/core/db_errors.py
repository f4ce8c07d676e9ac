"""The one place where database failures become errors with meaning for the caller."""

import asyncpg
from sqlalchemy.exc import DBAPIError, InterfaceError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from db_postgres_service.core.errors import (
    Conflict,
    ServiceError,
    ServiceUnavailable,
    ValidationFailed,
)

UNIQUE_VIOLATION = "23505"
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


# Exception classes whose instances may be database trouble rather than bugs. The asyncpg
# ones come from the hot read paths, which use the driver connection directly.
DATABASE_FAILURES: tuple[type[Exception], ...] = (
    DBAPIError,
    PoolTimeout,
    OSError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    # The driver lost track of the protocol, as when the server ended the connection while
    # it sat in the pool and the next statement raced the news.
    asyncpg.InternalClientError,
)


def _sqlstate(error: Exception) -> str | None:
    source = error.orig if isinstance(error, DBAPIError) else error
    state = getattr(source, "sqlstate", None)
    return state if isinstance(state, str) else None


def _diagnostics(error: Exception) -> object:
    """The driver's exception, which carries PostgreSQL's diagnostic fields."""
    if isinstance(error, DBAPIError):
        return error.orig.__cause__ if error.orig is not None else None
    return error


def _diagnostic(error: Exception, field: str) -> str | None:
    value = getattr(_diagnostics(error), field, None)
    return value if isinstance(value, str) else None


def conflicting_field(error: Exception) -> str | None:
    """The field a unique violation is about, read from the constraint's conventional name."""
    if _sqlstate(error) != UNIQUE_VIOLATION:
        return None
    constraint, table = _diagnostic(error, "constraint_name"), _diagnostic(error, "table_name")
    if constraint is None or table is None:
        return None
    prefix = f"uq_{table}_"
    return constraint.removeprefix(prefix) if constraint.startswith(prefix) else None


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
    if not isinstance(error, DBAPIError | asyncpg.PostgresError):
        return None
    field = conflicting_field(error)
    if field is not None:
        return Conflict(field)
    state = _sqlstate(error)
    if state == CHARACTER_NOT_IN_REPERTOIRE:
        return ValidationFailed(
            [{"loc": ["body"], "msg": "text cannot contain the NUL character"}],
            "The request holds text PostgreSQL cannot store.",
        )
    if state == QUERY_CANCELED:
        return ServiceUnavailable("The database statement timed out; retry shortly.")
    if state in {SERIALIZATION_FAILURE, DEADLOCK_DETECTED}:
        return ServiceUnavailable(
            "The transaction collided with another one; retry it.", retry_after_seconds=0
        )
    if isinstance(error, DBAPIError) and (
        error.connection_invalidated
        or isinstance(error, InterfaceError)
        or isinstance(error.orig, OSError)
    ):
        return ServiceUnavailable(
            "The database connection was lost; retry shortly.", retry_after_seconds=2
        )
    if state is not None and state.startswith(_UNAVAILABLE_PREFIXES):
        return ServiceUnavailable(
            "The database is unavailable; retry shortly.", retry_after_seconds=2
        )
    return None
