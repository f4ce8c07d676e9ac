"""The declaration of a standard resource: what a feature says once, and the toolkit serves
(api/standard_routes.py) with every promise of CONTRACT.md's "Every resource".

A declaration reads like a paragraph of the contract: the table (the model is the one source
of the columns), the writable fields with their wire types, the parent a row belongs to, the
unique lookups, the list filters and the scopes. What is not standard (a password, a rule
across rows) is written by hand as routes beside it, on the same pieces.
"""

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Annotated, Any, cast

from fastapi import Query
from fastapi.openapi.models import Example
from pydantic import BaseModel
from sqlalchemy import String, Table
from starlette.datastructures import State

from db_postgres_service.core.database import storable
from db_postgres_service.core.keyset import like_prefix
from db_postgres_service.schemas.common import RequestBody, Timestamp

# What a request body becomes: the columns to write and their values.
Columns = dict[str, Any]
ToColumns = Callable[[State, Any], Awaitable[Columns]]


class Case(Enum):
    """How a text column is compared with a value a caller sends."""

    EXACT = "exact"
    # The column holds lower-cased text (a check constraint keeps it so): the value is folded.
    STORED_LOWER = "stored lower-cased"
    # The column keeps its case, but compares without it (a unique index on lower(column)).
    INSENSITIVE = "case-insensitive"

    def column(self, name: str) -> str:
        return f"lower({name})" if self is Case.INSENSITIVE else name

    def fold(self, value: str) -> str:
        return value if self is Case.EXACT else value.lower()


@dataclass(frozen=True)
class Lookup:
    """`GET …/by_<field>/{<field>}`: one row by a unique field (unique per parent, for a
    nested resource)."""

    field: str
    case: Case = Case.EXACT

    def condition(self) -> str:
        """The match of `$1`, folded by PostgreSQL itself as the unique index folds it."""
        value = "$1" if self.case is Case.EXACT else "lower($1)"
        return f"{self.case.column(self.field)} = {value}"


# A filter's value as the SQL compares it, or NOTHING when no row can match it.
NOTHING = object()


@dataclass(frozen=True)
class QueryFilter:
    """One query parameter of a list: its annotation, its SQL condition (`{}` where the value
    goes) and what the value becomes before it is compared."""

    name: str
    annotation: Any
    condition: str
    value: Callable[[Any], Any]


def _text_value(case: Case, prefix: bool) -> Callable[[Any], Any]:
    def value(text: str) -> Any:
        if not storable(text):
            return NOTHING
        folded = case.fold(text)
        return like_prefix(folded) if prefix else folded

    return value


def _max_length(table: Table, field: str, declared: int | None) -> int | None:
    if declared is not None:
        return declared
    column_type = table.c[field].type
    return column_type.length if isinstance(column_type, String) else None


@dataclass(frozen=True)
class Equal:
    """`?<field>=…`: rows whose field equals the value (compared as `case` says)."""

    field: str
    case: Case = Case.EXACT
    max_length: int | None = None

    def query_filters(self, table: Table) -> tuple[QueryFilter, ...]:
        python_type: Any = table.c[self.field].type.python_type
        condition = f"{self.case.column(self.field)} = {{}}"
        if python_type is not str:
            typed: Any = Annotated[python_type | None, Query()]
            return (QueryFilter(self.field, typed, condition, lambda value: value),)
        length = _max_length(table, self.field, self.max_length)
        text: Any = Annotated[str | None, Query(max_length=length)]
        return (QueryFilter(self.field, text, condition, _text_value(self.case, False)),)


@dataclass(frozen=True)
class Prefix:
    """`?<field>_prefix=…`: rows whose field starts with the value; `%`, `_` and `\\` are
    plain characters."""

    field: str
    case: Case = Case.EXACT
    max_length: int | None = None

    def query_filters(self, table: Table) -> tuple[QueryFilter, ...]:
        length = _max_length(table, self.field, self.max_length)
        return (
            QueryFilter(
                f"{self.field}_prefix",
                Annotated[str | None, Query(max_length=length)],
                f"{self.case.column(self.field)} LIKE {{}} ESCAPE '\\'",
                _text_value(self.case, True),
            ),
        )


@dataclass(frozen=True)
class CreatedBetween:
    """`?created_after=…&created_before=…`, both exclusive."""

    def query_filters(self, table: Table) -> tuple[QueryFilter, ...]:
        def same(value: Any) -> Any:
            return value

        annotation = cast(Any, Timestamp | None)
        return (
            QueryFilter("created_after", annotation, "created_at > {}", same),
            QueryFilter("created_before", annotation, "created_at < {}", same),
        )


ListFilter = Equal | Prefix | CreatedBetween


@dataclass(frozen=True)
class StandardResource:
    """A resource served by the toolkit.

    `fields` are the writable columns with their wire types (lengths, patterns, examples), from
    which the create body (a column with a default may be left out) and the PATCH body (any of
    them, at least one) are derived; a resource whose bodies say more declares `create` and
    `update` itself, and `to_columns` / `change_columns` turn them into columns. `out` is what
    the wire shows of a row (by default every column). A nested resource names its `parent`
    model: it is created and listed under the parent's path, and read, changed and deleted at
    its own.
    """

    model: type[Any]
    read_scope: str
    write_scope: str
    fields: Mapping[str, Any] = field(default_factory=dict)
    create: type[RequestBody] | None = None
    update: type[RequestBody] | None = None
    out: type[BaseModel] | None = None
    parent: type[Any] | None = None
    lookups: tuple[Lookup, ...] = ()
    filters: tuple[ListFilter, ...] = ()
    to_columns: ToColumns | None = None
    change_columns: ToColumns | None = None
    create_examples: Mapping[str, Example] = field(default_factory=dict)
    update_examples: Mapping[str, Example] = field(default_factory=dict)
    # Why a DELETE may be refused with 409 (a rule the row's removal would break), if it may.
    delete_conflict: str | None = None

    @property
    def table(self) -> Table:
        return cast(Table, self.model.__table__)
