"""Errors as values with meaning: each kind knows its HTTP status and stable problem type.

Repositories and services raise these; the API layer renders every one of them as RFC 9457
problem+json in one place (`api/problems.py`). Nothing here knows about FastAPI.
"""

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

PROBLEM_BASE_URI = "https://db-postgres-service/problems/"


class ServiceError(Exception):
    """An error a caller should see; `extensions` are added to the problem body."""

    status: ClassVar[int] = 500
    kind: ClassVar[str] = "internal"
    title: ClassVar[str] = "Internal server error"

    def __init__(
        self,
        detail: str,
        *,
        extensions: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extensions: dict[str, Any] = dict(extensions or {})
        self.headers: dict[str, str] = dict(headers or {})

    @property
    def type_uri(self) -> str:
        return PROBLEM_BASE_URI + self.kind


class InternalError(ServiceError):
    """A genuine bug; the details go to the log, never to the caller."""

    def __init__(self) -> None:
        super().__init__("The service hit an unexpected error; it has been logged.")


class MalformedRequest(ServiceError):
    status = 400
    kind = "malformed-request"
    title = "Malformed request"


class NotFound(ServiceError):
    """A row the request names does not exist; `missing` says which kind (`user`, ...)."""

    status = 404
    kind = "not-found"
    title = "Not found"

    def __init__(self, detail: str, *, missing: str) -> None:
        super().__init__(detail, extensions={"missing": missing})
        self.missing = missing


class Conflict(ServiceError):
    """A uniqueness conflict: another `noun` (`user`, ...) already has this `field`."""

    status = 409
    kind = "conflict"
    title = "Conflict"

    def __init__(
        self, field: str, *, noun: str, extensions: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(
            f"A {noun} with this {field} already exists.",
            extensions={"conflicting_field": field, **(extensions or {})},
        )
        self.field = field


class Unauthenticated(ServiceError):
    status = 401
    kind = "unauthorized"
    title = "Unauthorized"

    def __init__(self) -> None:
        super().__init__(
            "Send a valid API key as `Authorization: Bearer <key>`.",
            headers={"WWW-Authenticate": "Bearer"},
        )


class Forbidden(ServiceError):
    status = 403
    kind = "forbidden"
    title = "Forbidden"


class InvalidLogin(ServiceError):
    """Wrong password or unknown login: deliberately the same error for both."""

    status = 401
    kind = "invalid-login"
    title = "Invalid login"

    def __init__(self) -> None:
        super().__init__(
            "The login or the password is wrong.", headers={"WWW-Authenticate": "Bearer"}
        )


class IdempotencyKeyInFlight(ServiceError):
    status = 409
    kind = "idempotency-key-in-flight"
    title = "Idempotency key in flight"

    def __init__(self) -> None:
        super().__init__(
            "A request with this Idempotency-Key is still running; retry shortly.",
            headers={"Retry-After": "1"},
        )


class PreconditionFailed(ServiceError):
    status = 412
    kind = "precondition-failed"
    title = "Precondition failed"


class MalformedPrecondition(ServiceError):
    """An If-Match or If-None-Match that is not `*` or a list of entity tags: RFC 9110 §15.5.1
    makes malformed syntax a 400; a 412 would claim the condition was evaluated and false."""

    status = 400
    kind = "malformed-precondition"
    title = "Malformed precondition"

    def __init__(self, header: str) -> None:
        super().__init__(
            f'{header} must be * or entity tags in double quotes, such as "2" or "2", "3" '
            "(an ETag exactly as this service sent it)."
        )


class Gone(ServiceError):
    """What a request names existed once and was removed for good (an expired feed cursor)."""

    status = 410
    kind = "gone"
    title = "Gone"


class PreconditionRequired(ServiceError):
    status = 428
    kind = "precondition-required"
    title = "Precondition required"


class UnsupportedMediaType(ServiceError):
    status = 415
    kind = "unsupported-media-type"
    title = "Unsupported media type"


class ValidationFailed(ServiceError):
    status = 422
    kind = "validation-failed"
    title = "Validation failed"

    def __init__(self, errors: Sequence[Mapping[str, Any]], detail: str | None = None) -> None:
        super().__init__(
            detail or "The request is not valid; see `errors`.",
            extensions={"errors": [dict(error) for error in errors]},
        )


class ServiceUnavailable(ServiceError):
    """The database cannot serve right now; the caller may retry after `Retry-After` seconds."""

    status = 503
    kind = "service-unavailable"
    title = "Service unavailable"

    def __init__(self, detail: str, *, retry_after_seconds: int = 1) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after_seconds)})


class TooManyRequests(ServiceError):
    """The calling client is over its fair share of a saturated service, or over its own limit
    of requests in flight; the caller may retry after `Retry-After` seconds."""

    status = 429
    kind = "too-many-requests"
    title = "Too many requests"

    def __init__(self, detail: str, *, retry_after_seconds: int = 1) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after_seconds)})
