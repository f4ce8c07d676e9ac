"""Every problem+json the service answers, as an exception: one class per problem `type`.

All derive from DpsError, which carries what every problem has (`status`, `type`, `title`,
`detail`, `request_id`) and the raw `problem`; a class adds the extensions of its type. A type
this client does not know raises DpsError itself.
"""

from collections.abc import Mapping
from typing import Any, ClassVar

PROBLEM_BASE_URI = "https://db-postgres-service/problems/"


class DpsError(Exception):
    """A request the service refused or could not serve."""

    kind: ClassVar[str | None] = None

    def __init__(self, problem: Mapping[str, Any], *, status: int, request_id: str | None) -> None:
        self.problem: dict[str, Any] = dict(problem)
        self.status: int = int(problem.get("status", status))
        self.type: str = str(problem.get("type", "about:blank"))
        self.title: str = str(problem.get("title", ""))
        self.detail: str = str(problem.get("detail", ""))
        # The body's id is the first request's on a replayed Idempotency-Key; the header's is
        # the id of this very request, which is what a caller looks up in the logs.
        self.request_id: str | None = request_id or problem.get("request_id")
        super().__init__(
            f"{self.status} {self.title}: {self.detail} (request id {self.request_id})"
        )


class _RetryAfter(DpsError):
    def __init__(
        self,
        problem: Mapping[str, Any],
        *,
        status: int,
        request_id: str | None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(problem, status=status, request_id=request_id)
        self.retry_after: float | None = retry_after


class MalformedRequest(DpsError):
    kind = "malformed-request"


class MalformedPrecondition(DpsError):
    kind = "malformed-precondition"


class Unauthorized(DpsError):
    kind = "unauthorized"


class InvalidLogin(DpsError):
    kind = "invalid-login"


class Forbidden(DpsError):
    kind = "forbidden"


class NotFound(DpsError):
    kind = "not-found"

    @property
    def missing(self) -> str | None:
        """Which kind of row the path named does not exist (`user`, `organization`, ...)."""
        value = self.problem.get("missing")
        return None if value is None else str(value)


class MethodNotAllowed(DpsError):
    kind = "method-not-allowed"


class Conflict(DpsError):
    """A uniqueness conflict: another row already has `conflicting_field`."""

    kind = "conflict"

    @property
    def conflicting_field(self) -> str | None:
        value = self.problem.get("conflicting_field")
        return None if value is None else str(value)

    @property
    def index(self) -> int | None:
        """In a batch: the position of the item that conflicts."""
        value = self.problem.get("index")
        return None if value is None else int(value)


class OwnerRequired(DpsError):
    """The change would leave an organization's members without an owner."""

    kind = "owner-required"

    @property
    def organization_id(self) -> int | None:
        value = self.problem.get("organization_id")
        return None if value is None else int(value)


class IdempotencyKeyInFlight(_RetryAfter):
    """A request with the same Idempotency-Key still runs (retried like a 503)."""

    kind = "idempotency-key-in-flight"


class Gone(DpsError):
    """A feed cursor older than the retention: read again without `after`."""

    kind = "gone"


class PreconditionFailed(DpsError):
    kind = "precondition-failed"


class PayloadTooLarge(DpsError):
    kind = "payload-too-large"


class UnsupportedMediaType(DpsError):
    kind = "unsupported-media-type"


class ValidationFailed(DpsError):
    kind = "validation-failed"

    @property
    def errors(self) -> list[dict[str, Any]]:
        """What is wrong and where: `{"loc": [...], "msg": ...}` per error."""
        return list(self.problem.get("errors", []))


class PreconditionRequired(DpsError):
    kind = "precondition-required"


class RateLimited(_RetryAfter):
    """429, raised once the retries ran out; `retry_after` in seconds."""

    kind = "too-many-requests"


class Unavailable(_RetryAfter):
    """503, raised once the retries ran out; `retry_after` in seconds."""

    kind = "service-unavailable"


class InternalError(DpsError):
    kind = "internal"


def _known() -> dict[str, type[DpsError]]:
    known: dict[str, type[DpsError]] = {}
    pending: list[type[DpsError]] = [DpsError]
    while pending:
        error = pending.pop()
        pending.extend(error.__subclasses__())
        if error.kind is not None:
            known[PROBLEM_BASE_URI + error.kind] = error
    return known


ERRORS_BY_TYPE: Mapping[str, type[DpsError]] = _known()


def error_for(
    problem: Mapping[str, Any],
    *,
    status: int,
    request_id: str | None,
    retry_after: float | None,
) -> DpsError:
    """The exception for a problem body (DpsError for a type this client does not know)."""
    error = ERRORS_BY_TYPE.get(str(problem.get("type")), DpsError)
    if issubclass(error, _RetryAfter):
        return error(problem, status=status, request_id=request_id, retry_after=retry_after)
    return error(problem, status=status, request_id=request_id)
