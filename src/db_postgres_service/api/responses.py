"""Building the user resource's HTTP responses."""

from dataclasses import dataclass
from typing import Any

import orjson
from fastapi import Request, Response, status

from db_postgres_service.api.conditional import etag_for, none_match
from db_postgres_service.repositories.user_reader import PublicUser
from db_postgres_service.repositories.user_repository import UserRecord

JSON_MEDIA_TYPE = "application/json"
# The wire format of a user (schemas.user.UserOut documents it); never the password hash.
PUBLIC_FIELDS = ("id", "email", "username", "created_at", "updated_at", "version")

User = UserRecord | PublicUser


def public_fields(user: User) -> dict[str, Any]:
    if isinstance(user, UserRecord):
        return {field: getattr(user, field) for field in PUBLIC_FIELDS}
    return {field: user[field] for field in PUBLIC_FIELDS}


def user_json(user: User) -> bytes:
    # orjson straight from the row: the same bytes pydantic would write for UserOut
    # (RFC 3339, UTC as "Z"), without building a model per response.
    return orjson.dumps(public_fields(user), option=orjson.OPT_UTC_Z)


@dataclass(frozen=True, slots=True)
class Representation:
    """What a response about one user says, before any framework wraps it."""

    etag: str
    # None when the caller's If-None-Match shows its copy is current: a 304 without a body.
    body: bytes | None


def representation(user: User, if_none_match: str | None) -> Representation:
    etag = etag_for(user.version if isinstance(user, UserRecord) else user["version"])
    if none_match(if_none_match, etag):
        return Representation(etag, None)
    return Representation(etag, user_json(user))


def user_response(
    user: User,
    request: Request,
    *,
    status_code: int = status.HTTP_200_OK,
    location: str | None = None,
) -> Response:
    """The user as JSON with its ETag, or 304 when a GET's If-None-Match already has it."""
    if_none_match = request.headers.get("if-none-match") if request.method == "GET" else None
    current = representation(user, if_none_match)
    headers = {"ETag": current.etag}
    if current.body is None:
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    if location is not None:
        headers["Location"] = location
    return Response(
        current.body, status_code=status_code, headers=headers, media_type=JSON_MEDIA_TYPE
    )
