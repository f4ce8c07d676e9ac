"""The SQL of a standard resource's table, written from the table's own declaration (its
name, its columns) as the driver runs it: `$n` parameters, built once per shape.

Every write is one statement that PostgreSQL decides on its own: an INSERT whose unique
indexes refuse a duplicate, an UPDATE or DELETE that applies only while the row's version is
one the caller expects (`If-Match`), so concurrent writers queue on the row lock and never
lose an update. Each also writes its event and first takes the subject lock the feed's order
needs (core/outbox.py); the client's name and the lock's subject are its last parameters.
Names come only from the table; every value is a parameter.
"""

import functools
from dataclasses import dataclass

from sqlalchemy import DateTime, Table

from db_postgres_service.core.keyset import ListShape
from db_postgres_service.core.outbox import EventSource, subject_lock


def _utc_text(column: str) -> str:
    """A timestamp as PostgreSQL prints a UTC time in the ISO DateStyle (core.database pins it):
    asyncpg builds a datetime in about four times the CPU, and a page holds hundreds."""
    return f"timezone('UTC', {column})::text AS {column}"


@dataclass(frozen=True)
class TableSql:
    """The statements of one table, reading `columns` (what the wire shows) back from every
    read and write. `parent_column` scopes its lists, and its lookups when they are unique
    per parent only."""

    table: Table
    columns: tuple[str, ...]
    parent_column: str | None = None
    # What its writes report to the feed; None for a table only read (a parent's existence).
    events: EventSource | None = None

    @property
    def name(self) -> str:
        return self.table.name

    @functools.cached_property
    def _returning(self) -> str:
        return ", ".join(self.columns)

    @functools.cached_property
    def timestamp_columns(self) -> tuple[str, ...]:
        """The columns a page reads as UTC text (api/standard_reads.py writes them RFC 3339)."""
        return tuple(name for name in self.columns if isinstance(self.table.c[name].type, DateTime))

    @functools.cached_property
    def by_id(self) -> str:
        return f"SELECT {self._returning} FROM {self.name} WHERE id = $1"  # noqa: S608

    @functools.cached_property
    def exists(self) -> str:
        return f"SELECT EXISTS (SELECT FROM {self.name} WHERE id = $1)"  # noqa: S608

    def where(self, condition: str) -> str:
        """A read of the rows matching `condition`, a declared SQL condition with `$n`."""
        return f"SELECT {self._returning} FROM {self.name} WHERE {condition}"  # noqa: S608

    @property
    def _events(self) -> EventSource:
        assert self.events is not None, f"{self.name} is written, so its changes are events"
        return self.events

    @functools.cache  # noqa: B019  # one entry per field set; the instance lives for good
    def insert(self, fields: tuple[str, ...]) -> str:
        """An INSERT of `fields` ($1, $2, … in that order), every other column its default;
        then the actor, and for a nested row its parent's subject, locked shared."""
        count = len(fields)
        values = ", ".join(f"${number}" for number in range(1, count + 1))
        write = f"INSERT INTO {self.name} ({', '.join(fields)})"
        if self.parent_column is None:
            write += f" VALUES ({values}) RETURNING {self._returning}"
            return self._events.with_events(write, f"${count + 1}", kind="created")
        write += f" SELECT {values} FROM locked RETURNING {self._returning}"  # noqa: S608
        locks = subject_lock(f"${count + 2}", shared=True)
        return self._events.with_events(write, f"${count + 1}", kind="created", locks=locks)

    @functools.cache  # noqa: B019
    def update(self, fields: tuple[str, ...]) -> str:
        """Set `fields` ($2, $3, …) of row $1, bump its version and stamp updated_at, while its
        version is one of the next parameter (NULL: any version); then actor and subject."""
        count = len(fields)
        assignments = [f"{field} = ${number}" for number, field in enumerate(fields, start=2)]
        versions = f"${count + 2}::int[]"
        # clock_timestamp(), not now(): a statement that waited for the row lock must not
        # stamp a time earlier than the update it waited for.
        write = (
            f"UPDATE {self.name} SET {', '.join(assignments)},"  # noqa: S608
            " version = version + 1, updated_at = clock_timestamp() FROM locked"
            f" WHERE id = $1 AND ({versions} IS NULL OR version = ANY({versions}))"
            f" RETURNING {self._qualified_returning}"
        )
        return self._events.with_events(
            write, f"${count + 3}", kind="updated", locks=subject_lock(f"${count + 4}")
        )

    @functools.cached_property
    def delete(self) -> str:
        """Delete row $1 while its version is one of $2 (NULL: any); $3 actor, $4 subject."""
        write = (
            f"DELETE FROM {self.name} USING locked"  # noqa: S608
            " WHERE id = $1 AND ($2::int[] IS NULL OR version = ANY($2::int[]))"
            f" RETURNING {self._qualified_returning}"
        )
        return self._events.with_events(write, "$3", kind="deleted", locks=subject_lock("$4"))

    @functools.cached_property
    def _qualified_returning(self) -> str:
        return ", ".join(f"{self.name}.{column}" for column in self.columns)

    def list_shape(self, filters: tuple[tuple[str, str], ...]) -> ListShape:
        """The keyset list of this table (core/keyset.py), timestamps read as UTC text."""
        columns = ", ".join(
            _utc_text(name) if name in self.timestamp_columns else name for name in self.columns
        )
        return ListShape(
            self.name,
            columns,
            id_column="id",
            scope_column=self.parent_column,
            filters=filters,
        )
