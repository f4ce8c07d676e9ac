"""The OpenAPI document: the problems of the bearer key on every operation that needs one (its
scheme and scope come from the route's own declaration, api/scopes.py) and that scope in its
description, the problem schemas with every problem type listed, the X-Request-ID every
request may send and every response carries, and names for enum values that are no
identifiers (`-created_at`), so that client generators model the whole document."""

import copy
import re
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from db_postgres_service.api.problems import problem_responses, problem_schemas, problem_types
from db_postgres_service.schemas.problem import REQUEST_ID_PATTERN

# What every operation that needs a key may answer: no key, no scope, over its share.
_KEYED_STATUSES = (401, 403, 429)
_REQUEST_ID_HEADER = {
    "description": "The caller's X-Request-ID when it is a sane token, otherwise a new UUID.",
    "required": True,
    "schema": {"type": "string", "pattern": REQUEST_ID_PATTERN},
}
# Any value is accepted: one that is no sane token is replaced, never refused.
_REQUEST_ID_PARAMETER = {
    "name": "X-Request-ID",
    "in": "header",
    "required": False,
    "description": "Your id for this request (1-128 of A-Z a-z 0-9 . _ : -), echoed in the "
    "response, its log lines and error bodies; otherwise the service makes a UUID.",
    "schema": {"type": "string"},
}
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NOT_ALPHANUMERIC = re.compile(r"[^A-Za-z0-9]+")


def _enum_varnames(values: list[str]) -> list[str] | None:
    """Generator names for string enum values (`-created_at` → `CREATED_AT_DESC`), or None
    when the values name themselves or would give two values one name."""
    if all(_IDENTIFIER.fullmatch(value) for value in values):
        return None
    names = []
    for value in values:
        name = _NOT_ALPHANUMERIC.sub("_", value.removeprefix("-")).strip("_").upper()
        names.append(f"{name}_DESC" if value.startswith("-") else name)
    if len(set(names)) != len(names) or not all(_IDENTIFIER.fullmatch(name) for name in names):
        return None
    return names


def _name_enums(node: Any) -> None:
    if isinstance(node, dict):
        values = node.get("enum")
        if isinstance(values, list) and values and all(isinstance(v, str) for v in values):
            names = _enum_varnames(values)
            if names is not None:
                node["x-enum-varnames"] = names
        for child in node.values():
            _name_enums(child)
    elif isinstance(node, list):
        for child in node:
            _name_enums(child)


def _without_null(parameter: dict[str, Any]) -> None:
    """A parameter's schema without pydantic's `null` branch: a header, query or path value is
    absent or a string, never JSON null, and generators would type it `None | str`."""
    schema = parameter.get("schema", {})
    branches = schema.get("anyOf")
    if not isinstance(branches, list):
        return
    kept = [branch for branch in branches if branch != {"type": "null"}]
    if len(kept) == 1 and len(kept) < len(branches):
        del schema["anyOf"]
        if schema.get("default", ...) is None:
            del schema["default"]
        schema.update(kept[0])


def _describe_scopes(operation: dict[str, Any]) -> None:
    """Say in the description which scope the operation needs: Swagger UI shows a security
    requirement only as its scheme's name ("apiKey"), but it shows the description."""
    scopes = [
        scope
        for requirement in operation["security"]
        for scheme_scopes in requirement.values()
        for scope in scheme_scopes
    ]
    needed = f"Requires scope {', '.join(f'`{scope}`' for scope in scopes)}."
    description = operation.get("description")
    operation["description"] = f"{description}\n\n{needed}" if description else needed


def _list_problem_types(schemas: dict[str, Any]) -> None:
    listed = "\n".join(f"- `{uri}`: {title}" for uri, title in problem_types().items())
    for schema in schemas.values():
        kind = schema["properties"].get("type")
        if kind is not None:
            kind["description"] = f"A stable URI per kind of error, one of:\n{listed}"


def install_openapi(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, summary=app.summary, routes=app.routes
            )
            components = schema.setdefault("components", {})
            problems = problem_schemas()
            _list_problem_types(problems)
            components.setdefault("schemas", {}).update(problems)
            for operations in schema["paths"].values():
                for operation in operations.values():
                    parameters = operation.setdefault("parameters", [])
                    for parameter in parameters:
                        _without_null(parameter)
                    parameters.append(copy.deepcopy(_REQUEST_ID_PARAMETER))
                    responses: dict[str, Any] = operation["responses"]
                    if operation.get("security"):
                        for status, declared in problem_responses(*_KEYED_STATUSES).items():
                            responses.setdefault(str(status), declared)
                        _describe_scopes(operation)
                    for response in responses.values():
                        headers = response.setdefault("headers", {})
                        headers.setdefault("X-Request-ID", copy.deepcopy(_REQUEST_ID_HEADER))
            _name_enums(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
