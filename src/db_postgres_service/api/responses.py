"""A single resource's HTTP response, for any resource: its JSON with the strong ETag of its
version, or 304 when a GET's If-None-Match already has that version. Built here once, for the
FastAPI routes and the fast lane alike."""

from dataclasses import dataclass

from fastapi import Request, Response, status

from db_postgres_service.api.conditional import etag_for, none_match

JSON_MEDIA_TYPE = "application/json"


@dataclass(frozen=True, slots=True)
class Rendered:
    """One resource as the wire shows it: its JSON and its version."""

    version: int
    body: bytes


@dataclass(frozen=True, slots=True)
class Created:
    """A resource a POST created, and the path it can be read at."""

    rendered: Rendered
    location: str


@dataclass(frozen=True, slots=True)
class Representation:
    """What a response about one resource says, before any framework wraps it."""

    etag: str
    # None when the caller's If-None-Match shows its copy is current: a 304 without a body.
    body: bytes | None


def representation(rendered: Rendered, if_none_match: str | None) -> Representation:
    etag = etag_for(rendered.version)
    if none_match(if_none_match, etag):
        return Representation(etag, None)
    return Representation(etag, rendered.body)


def resource_response(
    rendered: Rendered,
    request: Request,
    *,
    status_code: int = status.HTTP_200_OK,
    location: str | None = None,
) -> Response:
    """The resource as JSON with its ETag, or 304 when a GET's If-None-Match already has it."""
    if_none_match = request.headers.get("if-none-match") if request.method == "GET" else None
    current = representation(rendered, if_none_match)
    headers = {"ETag": current.etag}
    if current.body is None:
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    if location is not None:
        headers["Location"] = location
    return Response(
        current.body, status_code=status_code, headers=headers, media_type=JSON_MEDIA_TYPE
    )
