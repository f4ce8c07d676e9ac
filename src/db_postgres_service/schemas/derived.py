"""Wire schemas derived from a resource's table and its writable fields' types, so that a
column is named once: in the model, with its wire constraints (lengths, patterns, examples)
next to it in the declaration's `fields`."""

import datetime
from collections.abc import Mapping
from typing import Any, Self

from pydantic import MISSING, BaseModel, ConfigDict, Field, create_model, model_validator
from sqlalchemy import Table

from db_postgres_service.schemas.common import RequestBody

NEXT_CURSOR = Field(
    description="Pass as `cursor` (with the same order and filters) for the next page; "
    "null on the last page."
)


class PartialChange(RequestBody):
    """A partial change: at least one field."""

    model_config = ConfigDict(json_schema_extra={"minProperties": 1})

    @model_validator(mode="after")
    def _something(self) -> Self:
        if not self.model_fields_set:
            fields = ", ".join(f"`{name}`" for name in type(self).model_fields)
            raise ValueError(f"give at least one of {fields}")
        return self


def _column_type(table: Table, name: str) -> Any:
    column = table.c[name]
    python_type: Any = column.type.python_type
    if python_type is datetime.datetime:
        return datetime.datetime
    return python_type | None if column.nullable else python_type


def output_model(name: str, table: Table, columns: tuple[str, ...]) -> type[BaseModel]:
    """The model of a row as the wire shows it: `columns` with the table's types."""
    fields: dict[str, Any] = {column: (_column_type(table, column), ...) for column in columns}
    return create_model(name, **fields)


def page_model(item: type[BaseModel]) -> type[BaseModel]:
    return create_model(
        item.__name__.removesuffix("Out") + "Page",
        items=(list[item], ...),  # type: ignore[valid-type]
        next_cursor=(str | None, NEXT_CURSOR),
    )


def create_body(name: str, table: Table, fields: Mapping[str, Any]) -> type[RequestBody]:
    """A create body of the writable `fields`: those whose column has a default may be left
    out (the database fills them in); the rest are required."""
    definitions: dict[str, Any] = {}
    for field, annotation in fields.items():
        column = table.c[field]
        has_default = column.server_default is not None or column.default is not None
        definitions[field] = (annotation | MISSING, MISSING) if has_default else (annotation, ...)
    return create_model(name, __base__=RequestBody, **definitions)


def change_body(name: str, fields: Mapping[str, Any]) -> type[RequestBody]:
    """A PATCH body: any of the writable `fields`, at least one."""
    definitions: dict[str, Any] = {
        field: (annotation | MISSING, MISSING) for field, annotation in fields.items()
    }
    return create_model(name, __base__=PartialChange, **definitions)
