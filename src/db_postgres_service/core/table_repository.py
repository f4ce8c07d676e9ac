"""The repository of any standard resource, over a connection of the statement pool.

Each write is one statement with its event (core/table_sql.py): on a connection outside any
transaction it is its own transaction, and inside the request's transaction (a create behind an
Idempotency-Key) it is part of it. A delete whose rows others refer to with ON DELETE CASCADE
is a transaction of a few statements, which removes (and reports) those rows itself. It never
commits a transaction it did not open. After a conditional write that matched no row it asks
why, so that the caller hears 404 (the row is gone) or 412 (its version moved).
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

import asyncpg

from db_postgres_service.core.database import BIGINT_MAX, StatementConnection, storable
from db_postgres_service.core.errors import NotFound, PreconditionFailed
from db_postgres_service.core.outbox import Cascade, EventSource, Outbox, subject_lock
from db_postgres_service.core.table_sql import TableSql
from db_postgres_service.core.versions import ExpectedVersions

Row = asyncpg.Record


def is_id(value: int) -> bool:
    """Whether a bigint identity column can hold `value`: no row has any other id, and asyncpg
    refuses to send a larger one."""
    return 1 <= value <= BIGINT_MAX


@dataclass(frozen=True, slots=True)
class Parent:
    """The table a resource's rows belong to: its SQL, its rows' noun, the referring column."""

    sql: TableSql
    noun: str
    column: str
    # Its rows' subject in the feed, `organizations/{id}`: a child's creator locks it shared.
    subject: str

    def missing(self, parent_id: int) -> NotFound:
        return NotFound(f"No {self.noun} has id {parent_id}.", missing=self.noun)


@dataclass(frozen=True, slots=True)
class Table:
    """What the repository knows of a resource's table."""

    sql: TableSql
    noun: str
    parent: Parent | None = None

    def missing(self, row_id: int) -> NotFound:
        return NotFound(f"No {self.noun} has id {row_id}.", missing=self.noun)


class TableRepository:
    """Reads and writes of one table; a write's events name `actor`, and a delete removes
    the rows `outbox` says it cascades to."""

    def __init__(
        self,
        table: Table,
        connection: StatementConnection,
        *,
        actor: str = "",
        outbox: Outbox | None = None,
    ) -> None:
        self.table = table
        self.connection = connection
        self.actor = actor
        self.outbox = outbox

    async def get(self, row_id: int) -> Row:
        row = (
            await self.connection.fetchrow(self.table.sql.by_id, row_id) if is_id(row_id) else None
        )
        if row is None:
            raise self.table.missing(row_id)
        return row

    async def get_by(self, condition: str, field: str, value: str, parent_id: int | None) -> Row:
        """The row whose `field` matches `value` by `condition` (`$1` the value, `$2` the
        parent's id for a lookup unique per parent); 404 naming the parent when it is the
        parent that does not exist."""
        arguments: list[Any] = [value]
        if parent_id is not None:
            if not is_id(parent_id):
                raise self._parent_table().missing(parent_id)
            arguments.append(parent_id)
        row = None
        if storable(value):
            row = await self.connection.fetchrow(self.table.sql.where(condition), *arguments)
        if row is None:
            if parent_id is not None:
                await self.require_parent(parent_id)
            raise NotFound(f"No {self.table.noun} has this {field}.", missing=self.table.noun)
        return row

    async def exists(self, row_id: int) -> bool:
        return is_id(row_id) and bool(await self.connection.fetchval(self.table.sql.exists, row_id))

    async def require_parent(self, parent_id: int) -> None:
        parent = self._parent_table()
        if not (is_id(parent_id) and await self.connection.fetchval(parent.sql.exists, parent_id)):
            raise parent.missing(parent_id)

    async def create(self, values: Mapping[str, Any]) -> Row:
        """Insert one row; a duplicate surfaces as a unique violation and a missing parent as a
        foreign key violation, which core/db_errors.py turns into 409 and 404."""
        fields = tuple(values)
        arguments = [*values.values(), self.actor]
        parent = self.table.parent
        if parent is not None:
            arguments.append(parent.subject.format(id=values[parent.column]))
        row = await self.connection.fetchrow(self.table.sql.insert(fields), *arguments)
        assert row is not None, "INSERT ... RETURNING returns the row it inserted"
        self._events.count_written("created")
        return row

    async def update(
        self, row_id: int, values: Mapping[str, Any], expected: ExpectedVersions
    ) -> Row:
        """Apply `values`, bump the version and stamp updated_at, if the version is expected."""
        if not is_id(row_id):
            raise self.table.missing(row_id)
        statement = self.table.sql.update(tuple(values))
        row = await self.connection.fetchrow(
            statement,
            row_id,
            *values.values(),
            _versions(expected),
            self.actor,
            self._subject(row_id),
        )
        if row is None:
            await self._explain_miss(row_id)
        self._events.count_written("updated")
        return row

    async def delete(self, row_id: int, expected: ExpectedVersions) -> None:
        if not is_id(row_id):
            raise self.table.missing(row_id)
        cascades = self.outbox.cascades(self.table.sql.table) if self.outbox else ()
        if not cascades:
            await self._delete(row_id, expected)
            return
        async with self.connection.transaction():
            # Every row the delete removes is locked before anything is written (core/outbox.py).
            await self.connection.execute(f"SELECT {subject_lock('$1')}", self._subject(row_id))
            removals = await self._lock_descendants(cascades, [row_id])
            for cascade, parent_ids in reversed(removals):
                removed = await self.connection.fetch(
                    _remove_statement(cascade), parent_ids, self.actor
                )
                cascade.source.count_written("deleted", len(removed))
            await self._delete(row_id, expected)

    async def _delete(self, row_id: int, expected: ExpectedVersions) -> None:
        deleted = await self.connection.fetchrow(
            self.table.sql.delete, row_id, _versions(expected), self.actor, self._subject(row_id)
        )
        if deleted is None:
            await self._explain_miss(row_id)
        self._events.count_written("deleted")

    async def _lock_descendants(
        self, cascades: Sequence[Cascade], parent_ids: list[int]
    ) -> list[tuple[Cascade, list[int]]]:
        """Lock the subjects of the rows these cascades would remove, and of theirs in turn:
        each, parents first, with the ids of the rows whose children it removes. A parent's
        lock held keeps new children out (their creators lock it shared)."""
        assert self.outbox is not None
        removals: list[tuple[Cascade, list[int]]] = []
        for cascade in cascades:
            source = cascade.source
            children = self.outbox.cascades(source.table)
            keys = ", id" if children else ""
            rows = await self.connection.fetch(
                f"SELECT {source.subject_sql} AS subject{keys} FROM {source.table.name}"  # noqa: S608
                f" WHERE {cascade.column} = ANY($1::bigint[])",
                parent_ids,
            )
            await self.connection.execute(_LOCK_ALL, [row["subject"] for row in rows])
            removals.append((cascade, parent_ids))
            if children and rows:
                removals.extend(await self._lock_descendants(children, [row["id"] for row in rows]))
        return removals

    @property
    def _events(self) -> EventSource:
        events = self.table.sql.events
        assert events is not None, "a written table reports its changes"
        return events

    def _subject(self, row_id: int) -> str:
        return self._events.subject.format(id=row_id)

    async def _explain_miss(self, row_id: int) -> NoReturn:
        """After a conditional write matched nothing: was the row missing, or the version?"""
        if not await self.exists(row_id):
            raise self.table.missing(row_id)
        raise PreconditionFailed(
            f"The {self.table.noun} has changed: If-Match does not match its ETag."
        )

    def _parent_table(self) -> Parent:
        parent = self.table.parent
        assert parent is not None, "only a nested resource has a parent to check"
        return parent


# The subject locks of many rows, in one order for every writer, so that two never deadlock.
_LOCK_ALL = (
    "SELECT pg_advisory_xact_lock(key) FROM (SELECT hashtextextended(subject, 0) AS key"
    " FROM unnest($1::text[]) AS subject ORDER BY key) AS sorted"
)


def _remove_statement(cascade: Cascade) -> str:
    source = cascade.source
    write = (
        f"DELETE FROM {source.table.name} WHERE {cascade.column} = ANY($1::bigint[])"  # noqa: S608
        f" RETURNING {', '.join(source.columns)}"
    )
    return source.with_events(write, "$2", kind="deleted")


def _versions(expected: ExpectedVersions) -> list[int] | None:
    return None if expected is None else sorted(expected)
