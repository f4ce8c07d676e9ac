"""What routes of any resource declare in the OpenAPI document beside their problems
(api/problems.py): the ETag, Location and Idempotency-Key headers of their successes, and
the If-Match and If-None-Match headers they read."""

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import Depends, Header, status

from db_postgres_service.api.conditional import PRECONDITION_PATTERN, is_well_formed
from db_postgres_service.api.problems import common_statuses, problem_responses
from db_postgres_service.core.errors import MalformedPrecondition

Responses = dict[int | str, dict[str, Any]]

# The grammar is documented, not enforced by FastAPI: a value outside it is the contract's
# 400 with the problem of api/conditional.py, not a 422 about a header.
PRECONDITION_SCHEMA = {"pattern": PRECONDITION_PATTERN}
IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        description='The ETag you last saw, e.g. "3" (with the quotes), or `*`.',
        json_schema_extra=PRECONDITION_SCHEMA,
    ),
]


def _if_none_match(
    if_none_match: Annotated[
        str | None,
        Header(
            alias="If-None-Match",
            description='The ETag of the copy you hold, e.g. "3": 304 while it is current.',
            json_schema_extra=PRECONDITION_SCHEMA,
        ),
    ] = None,
) -> None:
    if not is_well_formed(if_none_match):
        raise MalformedPrecondition("If-None-Match")


# A GET route's dependency: declares If-None-Match and refuses a malformed one before any read.
CONDITIONAL_GET = Depends(_if_none_match)
ETAG = {
    "ETag": {
        "description": 'The version as a strong tag, e.g. "3".',
        "required": True,
        "schema": {"type": "string", "pattern": '^"[0-9]+"$'},
    }
}
_IN_FLIGHT_RETRY = {
    "Retry-After": {
        "description": "Seconds to wait; only when the Idempotency-Key is still in flight.",
        "schema": {"type": "integer", "minimum": 0},
    }
}
_REPLAYED = {
    "Idempotent-Replayed": {
        "description": "`true` on the stored response to an earlier request with this "
        "Idempotency-Key.",
        "schema": {"type": "string", "enum": ["true"]},
    }
}
NOT_MODIFIED: Responses = {
    304: {"description": "Not modified: your copy (If-None-Match) is current.", "headers": ETAG}
}
_WRITE_STATUSES = common_statuses({400, 409, 413, 415})
IN_FLIGHT = "Uniqueness conflict (`conflicting_field`{}), or the Idempotency-Key is in flight"


def location(pattern: str) -> dict[str, Any]:
    """The Location header of a 201, whose value matches `pattern`."""
    return {
        "Location": {
            "description": "The new resource's path.",
            "required": True,
            "schema": {"type": "string", "pattern": pattern},
        }
    }


def success(status_code: int, description: str, *headers: Mapping[str, Any]) -> Responses:
    merged: dict[str, Any] = {}
    for more in headers:
        merged.update(more)
    return {status_code: {"description": description, "headers": merged}}


def one_resource(description: str, *problems: int) -> Responses:
    """A GET of one resource: 200 with its ETag, 304, 404, 400 (a malformed If-None-Match) and
    the `problems` beside."""
    return {
        **success(status.HTTP_200_OK, description, ETAG),
        **NOT_MODIFIED,
        **problem_responses(*common_statuses({400, 404, *problems})),
    }


def idempotent_post(
    created: str, success_headers: Mapping[str, Any], conflict: str, *problems: int
) -> Responses:
    """The responses of a POST that honours Idempotency-Key: a 201 or a 409/422 of its effect
    may be a replay; `problems` are its other statuses (404 for a create under a parent)."""
    responses = {
        **success(status.HTTP_201_CREATED, created, success_headers, _REPLAYED),
        **problem_responses(
            *common_statuses({*_WRITE_STATUSES, *problems}), descriptions={409: conflict}
        ),
    }
    responses[409]["headers"] = {**_IN_FLIGHT_RETRY, **_REPLAYED}
    responses[422]["headers"] = dict(_REPLAYED)
    return responses
