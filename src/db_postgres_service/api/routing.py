"""A route class that checks the request's shape before FastAPI parses it."""

import re
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from starlette.convertors import Convertor

from db_postgres_service.core.errors import UnsupportedMediaType, ValidationFailed

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def is_json_media_type(content_type: str | None) -> bool:
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


def has_body(request: Request) -> bool:
    headers = request.headers
    return "transfer-encoding" in headers or headers.get("content-length", "0") != "0"


def segment_except(*names: str) -> Convertor[str]:
    """A path segment that is none of `names`, for a parameter beside literal sibling routes.

    `/users/batch` is a route of its own: without this, a GET there would be routed to
    `/users/{user_id}` and refused as a non-integer id (422), where a 405 with `Allow: POST`
    is the truth.
    """

    class SegmentExcept(Convertor[str]):
        regex = f"(?!(?:{'|'.join(re.escape(name) for name in names)})$)[^/]+"

        def convert(self, value: str) -> str:
            return value

        def to_string(self, value: str) -> str:
            return value

    return SegmentExcept()


class StrictRoute(APIRoute):
    """Refuses what FastAPI would quietly accept: a non-JSON body (415) and query parameters
    the route does not know (422; a typo such as `username_prefx` must not list everyone)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        known = frozenset(param.alias for param in self.dependant.query_params)
        takes_body = self.body_field is not None

        async def strict(request: Request) -> Response:
            if request.scope["query_string"]:
                unknown = [name for name in request.query_params if name not in known]
                if unknown:
                    raise ValidationFailed(
                        [
                            {"loc": ["query", name], "msg": "unknown query parameter"}
                            for name in unknown
                        ]
                    )
            if (
                takes_body
                and request.method in _BODY_METHODS
                and has_body(request)
                and not is_json_media_type(request.headers.get("content-type"))
            ):
                raise UnsupportedMediaType("Send the body as application/json.")
            return await handler(request)

        return strict
