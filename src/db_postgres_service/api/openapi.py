"""The OpenAPI document: the problems of the bearer key on every operation that needs one (its
scheme and scope come from the route's own declaration, api/scopes.py), the problem schemas,
and the X-Request-ID every response carries."""

import copy
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from db_postgres_service.api.problems import problem_responses, problem_schemas
from db_postgres_service.schemas.problem import REQUEST_ID_PATTERN

_AUTH_STATUSES = (401, 403)
_REQUEST_ID_HEADER = {
    "description": "The caller's X-Request-ID when it is a sane token, otherwise a new UUID.",
    "required": True,
    "schema": {"type": "string", "pattern": REQUEST_ID_PATTERN},
}


def install_openapi(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, summary=app.summary, routes=app.routes
            )
            components = schema.setdefault("components", {})
            components.setdefault("schemas", {}).update(problem_schemas())
            for operations in schema["paths"].values():
                for operation in operations.values():
                    responses: dict[str, Any] = operation["responses"]
                    if operation.get("security"):
                        for status, declared in problem_responses(*_AUTH_STATUSES).items():
                            responses.setdefault(str(status), declared)
                    for response in responses.values():
                        headers = response.setdefault("headers", {})
                        headers.setdefault("X-Request-ID", copy.deepcopy(_REQUEST_ID_HEADER))
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
