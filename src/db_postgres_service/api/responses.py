"""Building the user resource's HTTP responses."""

from typing import Any

import orjson
from fastapi import Request, Response, status

from db_postgres_service.api.conditional import etag_for, none_match
from db_postgres_service.repositories.user_reader import PublicUser
from db_postgres_service.repositories.user_repository import UserRecord

JSON_MEDIA_TYPE = "application/json"
_SAFE_METHODS = frozenset({"GET", "HEAD"})
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


def user_response(
    user: User,
    request: Request,
    *,
    status_code: int = status.HTTP_200_OK,
    location: str | None = None,
) -> Response:
    """The user as JSON with its ETag, or 304 when the caller's If-None-Match already has it."""
    etag = etag_for(user.version if isinstance(user, UserRecord) else user["version"])
    headers = {"ETag": etag}
    if request.method in _SAFE_METHODS and none_match(request.headers.get("if-none-match"), etag):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    if location is not None:
        headers["Location"] = location
    return Response(
        user_json(user), status_code=status_code, headers=headers, media_type=JSON_MEDIA_TYPE
    )
