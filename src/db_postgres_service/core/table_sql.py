"""The SQL of a standard resource's table, written from the table's own declaration (its
name, its columns) as the driver runs it: `$n` parameters, built once per shape.

Every write is one statement that PostgreSQL decides on its own: an INSERT whose unique
indexes refuse a duplicate, an UPDATE or DELETE that applies only while the row's version is
one the caller expects (`If-Match`), so concurrent writers queue on the row lock and never
lose an update. Names come only from the table; every value is a parameter.
"""

import functools
from dataclasses import dataclass

from sqlalchemy import DateTime, Table

from db_postgres_service.core.keyset import ListShape


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

    @functools.cache  # noqa: B019  # one entry per field set; the instance lives for good
    def insert(self, fields: tuple[str, ...]) -> str:
        """An INSERT of `fields` ($1, $2, … in that order); every other column has its default."""
        values = ", ".join(f"${number}" for number in range(1, len(fields) + 1))
        return (
            f"INSERT INTO {self.name} ({', '.join(fields)}) VALUES ({values})"  # noqa: S608
            f" RETURNING {self._returning}"
        )

    @functools.cache  # noqa: B019
    def update(self, fields: tuple[str, ...]) -> str:
        """Set `fields` ($2, $3, …) of row $1, bump its version and stamp updated_at, while its
        version is one of the last parameter (NULL: any version)."""
        assignments = [f"{field} = ${number}" for number, field in enumerate(fields, start=2)]
        versions = f"${len(fields) + 2}::int[]"
        # clock_timestamp(), not now(): a statement that waited for the row lock must not
        # stamp a time earlier than the update it waited for.
        return (
            f"UPDATE {self.name} SET {', '.join(assignments)},"  # noqa: S608
            " version = version + 1, updated_at = clock_timestamp()"
            f" WHERE id = $1 AND ({versions} IS NULL OR version = ANY({versions}))"
            f" RETURNING {self._returning}"
        )

    @functools.cached_property
    def delete(self) -> str:
        return (
            f"DELETE FROM {self.name}"  # noqa: S608
            " WHERE id = $1 AND ($2::int[] IS NULL OR version = ANY($2::int[])) RETURNING id"
        )

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
