"""Every error any request can produce, rendered as RFC 9457 problem+json in one place."""

import copy
import logging
from collections.abc import Iterable, Mapping
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic.json_schema import models_json_schema
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.routing import Match
from starlette.types import Send

from db_postgres_service.api.metrics import record_database_error
from db_postgres_service.core.db_errors import (
    DATABASE_FAILURES,
    TransactionCollided,
    collided,
    map_database_error,
)
from db_postgres_service.core.errors import (
    PROBLEM_BASE_URI,
    InternalError,
    MalformedRequest,
    ServiceError,
    ValidationFailed,
)
from db_postgres_service.schemas.problem import Problem, ValidationProblem

PROBLEM_MEDIA_TYPE = "application/problem+json"
logger = logging.getLogger(__name__)

_HTTP_PROBLEMS: Mapping[int, tuple[str, str]] = {
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    413: ("payload-too-large", "Request body too large"),
}
_OTHER_HTTP_PROBLEM = ("http-error", "HTTP error")
_DESCRIPTIONS: Mapping[int, str] = {
    400: "Malformed JSON body, or an If-Match / If-None-Match that is not entity tags",
    401: "Missing or invalid API key",
    403: "The API key lacks the route's scope",
    404: "Unknown resource or route",
    409: "Uniqueness conflict (`conflicting_field`)",
    412: "`If-Match` does not match the current ETag",
    413: "Request body over the limit",
    415: "Request body is not JSON",
    422: "Validation failed (`errors`)",
    428: "`If-Match` is required (setting `require_if_match`) but absent",
    429: "The client is over its fair share of the saturated service, or over its own limit "
    "of requests in flight (not run)",
    503: "Database unavailable, pool exhausted, statement timed out, or at capacity (not run)",
}
_RETRY_AFTER: Mapping[str, Any] = {
    "description": "Seconds to wait before retrying.",
    "required": True,
    "schema": {"type": "integer", "minimum": 0},
}
_HEADERS: Mapping[int, Mapping[str, Mapping[str, Any]]] = {
    401: {
        "WWW-Authenticate": {
            "description": "The scheme to authenticate with.",
            "required": True,
            "schema": {"type": "string", "enum": ["Bearer"]},
        }
    },
    429: {"Retry-After": _RETRY_AFTER},
    503: {"Retry-After": _RETRY_AFTER},
}
PROBLEM_SCHEMA_REF = "#/components/schemas/{model}"


def problem_body(
    *,
    status: int,
    kind: str,
    title: str,
    detail: str,
    request_id: str,
    extensions: Mapping[str, Any] | None = None,
) -> bytes:
    return orjson.dumps(
        {
            "type": PROBLEM_BASE_URI + kind,
            "title": title,
            "status": status,
            "detail": detail,
            "request_id": request_id,
            **(extensions or {}),
        }
    )


def problem_response(
    request: Request,
    *,
    status: int,
    kind: str,
    title: str,
    detail: str,
    extensions: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    body = problem_body(
        status=status,
        kind=kind,
        title=title,
        detail=detail,
        request_id=request.state.request_id,
        extensions=extensions,
    )
    return Response(body, status_code=status, headers=headers, media_type=PROBLEM_MEDIA_TYPE)


async def send_problem(send: Send, error: ServiceError, request_id: str) -> None:
    """Answer with a problem from pure ASGI middleware, before any route ran."""
    body = problem_body(
        status=error.status,
        kind=error.kind,
        title=error.title,
        detail=error.detail,
        request_id=request_id,
        extensions=error.extensions,
    )
    headers = [
        (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
        (b"content-length", str(len(body)).encode()),
        *((name.lower().encode(), value.encode()) for name, value in error.headers.items()),
    ]
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def service_error_response(request: Request, error: ServiceError) -> Response:
    return problem_response(
        request,
        status=error.status,
        kind=error.kind,
        title=error.title,
        detail=error.detail,
        extensions=error.extensions,
        headers=error.headers,
    )


async def _on_service_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, ServiceError)
    return service_error_response(request, error)


async def _on_validation_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, RequestValidationError)
    errors = error.errors()
    if any(item.get("type") == "json_invalid" for item in errors):
        return service_error_response(request, MalformedRequest("The body is not valid JSON."))
    # Only location and message go back: pydantic's `input` would echo secrets such as passwords.
    public = [
        {"loc": list(item.get("loc", ())), "msg": str(item.get("msg", ""))} for item in errors
    ]
    return service_error_response(request, ValidationFailed(public))


_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _allowed_methods(request: Request) -> str:
    """Every method some route fully matches on this path (not only the first partial match)."""
    routes = request.app.router.routes
    allowed = [
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes
        )
    ]
    if "GET" in allowed:
        allowed.insert(1, "HEAD")
    return ", ".join(allowed)


async def _on_http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    if error.status_code == 400:
        # FastAPI's answer to a body its JSON parser gave up on without a JSONDecodeError:
        # nested too deep (RecursionError) or not UTF-8. Malformed JSON all the same.
        return service_error_response(request, MalformedRequest("The body is not valid JSON."))
    kind, title = _HTTP_PROBLEMS.get(error.status_code, _OTHER_HTTP_PROBLEM)
    headers = dict(error.headers or {})
    detail = str(error.detail)
    if error.status_code == 404:
        detail = "No such resource or route."
    if error.status_code == 405:
        headers["Allow"] = _allowed_methods(request)
        detail = f"{request.method} is not allowed here; see the Allow header."
    return problem_response(
        request, status=error.status_code, kind=kind, title=title, detail=detail, headers=headers
    )


def database_problem(error: Exception) -> ServiceError | None:
    """Count the failure and say what it means for the caller; None for a genuine bug."""
    record_database_error(error)
    mapped = map_database_error(error)
    if mapped is not None:
        logger.warning("database error answered with %s: %s", mapped.status, type(error).__name__)
    return mapped


async def _on_database_error(request: Request, error: Exception) -> Response:
    if collided(error):
        # Not answered here: the request runs again (api/retries.py), which counts it.
        raise TransactionCollided(error) from error
    mapped = database_problem(error)
    if mapped is None:
        # A genuine bug: the request middleware logs it and answers 500.
        raise error
    return service_error_response(request, mapped)


async def _on_bug(request: Request, error: Exception) -> Response:
    """A genuine bug inside FastAPI's stack. Starlette's outermost layer answers with this, then
    raises the error on to the request middleware, which logs it."""
    return service_error_response(request, InternalError())


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(Exception, _on_bug)
    app.add_exception_handler(ServiceError, _on_service_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(HTTPException, _on_http_error)
    for database_failure in DATABASE_FAILURES:
        app.add_exception_handler(database_failure, _on_database_error)


def problem_types() -> dict[str, str]:
    """Every problem `type` this service sends, with its title.

    The service's own errors are the subclasses of ServiceError (a resource's included, once
    its package is imported); FastAPI's are those `_on_http_error` names.
    """
    kinds = dict([*_HTTP_PROBLEMS.values(), _OTHER_HTTP_PROBLEM])
    pending: list[type[ServiceError]] = [ServiceError]
    while pending:
        error = pending.pop()
        pending.extend(error.__subclasses__())
        kinds[error.kind] = error.title
    return {PROBLEM_BASE_URI + kind: kinds[kind] for kind in sorted(kinds)}


def problem_schemas() -> dict[str, Any]:
    """The OpenAPI components the problem responses refer to."""
    _, schemas = models_json_schema(
        [(Problem, "serialization"), (ValidationProblem, "serialization")],
        ref_template=PROBLEM_SCHEMA_REF,
    )
    components: dict[str, Any] = schemas["$defs"]
    return components


def problem_responses(
    *statuses: int, descriptions: Mapping[int, str] | None = None
) -> dict[int | str, dict[str, Any]]:
    """OpenAPI declarations of the problem responses a route can give (`descriptions` overrides
    the usual texts for this route)."""
    descriptions = {**_DESCRIPTIONS, **(descriptions or {})}
    responses: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        model = ValidationProblem if status == 422 else Problem
        schema = {"$ref": PROBLEM_SCHEMA_REF.format(model=model.__name__)}
        response: dict[str, Any] = {
            "description": descriptions.get(status, "Problem"),
            "content": {PROBLEM_MEDIA_TYPE: {"schema": schema}},
        }
        if status in _HEADERS:
            response["headers"] = copy.deepcopy(dict(_HEADERS[status]))
        responses[status] = response
    return responses


def common_statuses(extra: Iterable[int] = ()) -> tuple[int, ...]:
    return tuple(sorted({422, 503, *extra}))
