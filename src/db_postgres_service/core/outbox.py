"""Every committed change is an event, written by the statement that makes the change.

A write is wrapped in one statement with its event (`WITH changed AS (<write> RETURNING …)
INSERT INTO events … SELECT … FROM changed`): the event commits or rolls back with the change,
and costs no extra round trip. The event's `data` is built by PostgreSQL from the returned row,
with the columns and the timestamp format a GET writes (a test compares both).

Order. The feed orders events by the id of the transaction that wrote them (models/event.py),
and PostgreSQL gives a transaction its id at its first write, before that write waits for a
row lock. Two writers of one row could then commit in the other order than their ids. So every
writer first takes the *subject lock* of each row it will change, a transaction-scoped advisory
lock on the event's subject, which assigns no id: the writer that waited gets its id after the
one it waited for committed. A row's creator holds its parent's subject lock shared, so that a
delete, holding it exclusively, sees every child it must delete (and report) itself rather than
leave them to the foreign key's cascade, which would report nothing.
"""

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from prometheus_client import Counter
from sqlalchemy import DateTime, Table

from db_postgres_service.core import process_metrics  # noqa: F401  # before any metric

_FIELD = re.compile(r"\{(\w+)\}")
CHANGE_KINDS = ("created", "updated", "deleted")
EVENTS_WRITTEN = Counter(
    "events_written_total",
    "Events written to the change feed, by type; counted as written, so a transaction that then "
    "fails to commit is counted too.",
    ["type"],
)


def subject_lock(parameter: str, *, shared: bool = False) -> str:
    """The SQL call taking the subject lock of the subject in `parameter` (a `$n` or an
    expression), until the transaction ends."""
    function = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
    return f"{function}(hashtextextended({parameter}, 0))"


def _rfc3339(column: str) -> str:
    """A timestamp as a GET writes it: UTC, 'T', six fraction digits or none, 'Z'."""
    utc = f"timezone('UTC', {column})"
    return (
        f"to_char({utc}, CASE WHEN date_trunc('second', {utc}) = {utc}"
        """ THEN 'YYYY-MM-DD"T"HH24:MI:SS"Z"' ELSE 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"' END)"""
    )


@dataclass(frozen=True)
class EventSource:
    """A table whose changes are events: `<noun>.created|updated|deleted` about `subject` (a
    path with `{column}` fields, `users/{id}`), whose `data` are `columns`, in wire order."""

    table: Table
    noun: str
    subject: str
    columns: tuple[str, ...]

    def type(self, kind: str) -> str:
        return f"{self.noun}.{kind}"

    def count_written(self, kind: str, count: int = 1) -> None:
        if count:
            EVENTS_WRITTEN.labels(self.type(kind)).inc(count)

    def subject_of(self, row: dict[str, object]) -> str:
        return self.subject.format(**row)

    @functools.cached_property
    def subject_columns(self) -> tuple[str, ...]:
        return tuple(_FIELD.findall(self.subject))

    @functools.cached_property
    def subject_sql(self) -> str:
        parts = [part for part in _FIELD.split(self.subject) if part]
        fields = set(self.subject_columns)
        return "concat(" + ", ".join(p if p in fields else _literal(p) for p in parts) + ")"

    @functools.cached_property
    def data_sql(self) -> str:
        pairs = []
        for name in self.columns:
            value = _rfc3339(name) if isinstance(self.table.c[name].type, DateTime) else name
            pairs.append(f"{_literal(name)}, {value}")
        return f"json_build_object({', '.join(pairs)})"

    def with_events(
        self, write: str, actor: str, *, kind: str, when: str = "true", locks: str | None = None
    ) -> str:
        """`write` (a statement `… RETURNING <columns>`) with one event of `kind` (an SQL
        expression or a change kind) per returned row for which `when` holds, the returned
        rows unchanged. `actor` is the parameter holding the client's name. With `locks` (SQL
        calls of subject_lock), `write` reads from `locked`, so that it starts only once they
        are held."""
        type_sql = _literal(self.type(kind)) if kind in CHANGE_KINDS else kind
        locked = f"locked AS (SELECT {locks})," if locks else ""
        # Names and SQL come from declarations; every value is a parameter.
        return (
            f"WITH {locked} changed AS ({write}),"  # noqa: S608
            " written AS (INSERT INTO events (type, subject, actor, data)"
            f" SELECT {type_sql}, {self.subject_sql}, {actor}, {self.data_sql}"
            f" FROM changed WHERE {when})"
            " SELECT * FROM changed"
        )


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


@dataclass(frozen=True)
class Cascade:
    """Rows of `source` that a delete of their parent's row removes, found by `column`."""

    source: EventSource
    column: str


class Outbox:
    """The event sources of the running service, and which of them a delete cascades to:
    read from the registered resources, so that a resource added later is covered too."""

    def __init__(self, sources: Iterable[EventSource]) -> None:
        self.sources: tuple[EventSource, ...] = tuple(sources)

    def cascades(self, table: Table) -> Sequence[Cascade]:
        """The sources whose rows a delete of a `table` row removes with it (ON DELETE
        CASCADE), each with its column referring to that row."""
        return tuple(
            Cascade(source, key.parent.name)
            for source in self.sources
            for key in source.table.foreign_keys
            if key.column.table is table and (key.ondelete or "").upper() == "CASCADE"
        )

    def source_of(self, table: Table) -> EventSource | None:
        return next((source for source in self.sources if source.table is table), None)
