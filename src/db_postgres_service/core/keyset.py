"""Keyset pages of any table: the SQL of one list's shape in one order, built and compiled
once per shape. Every value is a parameter; names (tables, columns, conditions) come only
from the feature's own declarations, never from a request."""

import functools
from dataclasses import dataclass
from enum import StrEnum

from db_postgres_service.core.database import DriverStatement


class PageOrder(StrEnum):
    """The orders of a list: by the row's id (or the other end's id, for memberships) or by
    creation time, tie-broken by that id in the same direction."""

    ID = "id"
    ID_DESC = "-id"
    CREATED_AT = "created_at"
    CREATED_AT_DESC = "-created_at"

    @classmethod
    def of(cls, name: str) -> "PageOrder":
        """The order a list's own name for it means (`-user_id` is ID_DESC)."""
        by_creation = name.removeprefix("-") == "created_at"
        if name.startswith("-"):
            return cls.CREATED_AT_DESC if by_creation else cls.ID_DESC
        return cls.CREATED_AT if by_creation else cls.ID

    @property
    def descending(self) -> bool:
        return self.value.startswith("-")

    @property
    def by_creation(self) -> bool:
        return self in {PageOrder.CREATED_AT, PageOrder.CREATED_AT_DESC}


@dataclass(frozen=True, slots=True)
class ListShape:
    """What a keyset list reads: its table, the id it is ordered by, an equality that scopes
    it (an organization's members) and the filters given, by name."""

    table: str
    columns: str
    id_column: str
    scope_column: str | None
    # (name, condition with `{}` where the value's parameter goes), in parameter order.
    filters: tuple[tuple[str, str], ...]


@functools.cache
def page_sql(
    shape: ListShape, order: PageOrder, filters: frozenset[str], after: bool
) -> DriverStatement:
    """The keyset query of one list shape with the `filters` given: its parameters' names
    are `scope`, the filters', `after_id`, `after_created_at`, `limit`."""
    conditions: list[str] = []
    names: list[str] = []

    def parameter(name: str) -> str:
        names.append(name)
        return f"${len(names)}"

    if shape.scope_column is not None:
        conditions.append(f"{shape.scope_column} = {parameter('scope')}")
    for name, condition in shape.filters:
        if name in filters:
            conditions.append(condition.format(parameter(name)))
    direction = "DESC" if order.descending else "ASC"
    comparison = "<" if order.descending else ">"
    keys = ["created_at", shape.id_column] if order.by_creation else [shape.id_column]
    if after:
        after_id = parameter("after_id")
        if order.by_creation:
            after_created_at = parameter("after_created_at")
            conditions.append(
                f"(created_at, {shape.id_column}) {comparison} ({after_created_at}, {after_id})"
            )
        else:
            conditions.append(f"{shape.id_column} {comparison} {after_id}")
    where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
    # Qualified: a page may read a column under its own name in another form (a timestamp
    # as text), and ORDER BY would otherwise sort by that output column, not the index's.
    ordering = ", ".join(f"{shape.table}.{key} {direction}" for key in keys)
    # Every name here is the feature's own declaration, never a request's text.
    sql = (
        f"SELECT {shape.columns} FROM {shape.table} {where} ORDER BY {ordering}"  # noqa: S608
        f" LIMIT {parameter('limit')}"
    )
    return DriverStatement(sql, tuple(names), {})


def like_prefix(prefix: str) -> str:
    """A LIKE pattern that matches `prefix` literally at the start."""
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"
