"""Building the user resource's HTTP responses."""

from fastapi import Request, Response, status

from db_postgres_service.api.conditional import etag_for, none_match
from db_postgres_service.repositories.user_repository import UserRecord
from db_postgres_service.schemas.user import UserOut

JSON_MEDIA_TYPE = "application/json"
_SAFE_METHODS = frozenset({"GET", "HEAD"})


def user_response(
    user: UserRecord,
    request: Request,
    *,
    status_code: int = status.HTTP_200_OK,
    location: str | None = None,
) -> Response:
    """The user as JSON with its ETag, or 304 when the caller's If-None-Match already has it."""
    etag = etag_for(user.version)
    headers = {"ETag": etag}
    if request.method in _SAFE_METHODS and none_match(request.headers.get("if-none-match"), etag):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    if location is not None:
        headers["Location"] = location
    return Response(
        user_json(user), status_code=status_code, headers=headers, media_type=JSON_MEDIA_TYPE
    )


def user_json(user: UserRecord) -> bytes:
    return UserOut.model_validate(user).model_dump_json().encode()
