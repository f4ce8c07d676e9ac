"""The OpenAPI document: the bearer-key scheme and its problems on every /api operation."""

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from db_postgres_service.api.problems import problem_responses

SECURITY_SCHEME = "apiKey"
_AUTH_PROBLEMS = {401: "Missing or invalid API key", 403: "The key lacks the route's scope"}


def install_openapi(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, summary=app.summary, routes=app.routes
            )
            schema.setdefault("components", {})["securitySchemes"] = {
                SECURITY_SCHEME: {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API key from `db-postgres-service clients create`.",
                }
            }
            problems = problem_responses(*_AUTH_PROBLEMS)
            for path, operations in schema["paths"].items():
                if not path.startswith("/api/"):
                    continue
                for operation in operations.values():
                    operation["security"] = [{SECURITY_SCHEME: []}]
                    for status, description in _AUTH_PROBLEMS.items():
                        declared = {**problems[status], "description": description}
                        declared.pop("model")
                        operation["responses"].setdefault(str(status), declared)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
