"""Pure ASGI middleware for what every request needs before routing.

Pure ASGI rather than BaseHTTPMiddleware: it adds no task or stream per request, which matters
on the hot read paths.
"""

import logging
import os
import re

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from db_postgres_service.api.problems import send_problem
from db_postgres_service.core.errors import InternalError

logger = logging.getLogger(__name__)
REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID_HEADER = REQUEST_ID_HEADER.lower().encode()
_SANE_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:-]{1,128}")
_UUIDS_PER_READ = 256


class RandomUuids:
    """Version 4 UUIDs from one read of the kernel's randomness per 256 of them.

    uuid.uuid4() makes a system call per id, which showed up in the GET profile; the ids are
    exactly as random, only fetched in bulk.
    """

    def __init__(self) -> None:
        self._random = b""
        self._offset = 0
        # A forked worker must not hand out the ids its parent had already fetched.
        os.register_at_fork(after_in_child=self._forget)

    def _forget(self) -> None:
        self._random = b""
        self._offset = 0

    def new(self) -> str:
        if self._offset >= len(self._random):
            self._random = os.urandom(16 * _UUIDS_PER_READ)
            self._offset = 0
        raw = self._random[self._offset : self._offset + 16]
        self._offset += 16
        digits = raw.hex()
        variant = "89ab"[raw[8] & 0b11]
        return (
            f"{digits[:8]}-{digits[8:12]}-4{digits[13:16]}-{variant}{digits[17:20]}-{digits[20:]}"
        )


_uuids = RandomUuids()


def request_id_of(scope: Scope) -> str:
    """The caller's request id when it is a sane token, otherwise a fresh UUID."""
    value: bytes
    for name, value in scope["headers"]:
        if name == _REQUEST_ID_HEADER and _SANE_REQUEST_ID.fullmatch(value):
            return value.decode("ascii")
    return _uuids.new()


class RequestContextMiddleware:
    """Assigns the request id, folds a trailing slash, answers HEAD as GET, enforces the body
    size limit, and turns a genuine bug into a 500 problem that still carries the request id."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_of(scope)
        echoed = (_REQUEST_ID_HEADER, request_id.encode("ascii"))
        scope.setdefault("state", {})["request_id"] = request_id
        # HEAD is GET without the body (RFC 9110 §9.3.2), for every GET route.
        head = scope["method"] == "HEAD"
        if head:
            scope["method"] = "GET"
        path: str = scope["path"]
        if len(path) > 1 and path.endswith("/"):
            # Every route answers with and without a trailing slash, without a redirect.
            scope["path"] = path.rstrip("/") or "/"

        response_started = response_complete = False

        async def send_with_request_id(message: Message) -> None:
            nonlocal response_started, response_complete
            if message["type"] == "http.response.start":
                response_started = True
                message["headers"] = [*message.get("headers", ()), echoed]
            elif message["type"] == "http.response.body":
                response_complete = not message.get("more_body", False)
                if head:
                    message = {**message, "body": b""}
            await send(message)

        try:
            await self.app(scope, self._limited(scope, receive), send_with_request_id)
        except Exception:
            logger.exception("unhandled error")
            if response_complete:
                # Already answered with a problem (FastAPI's last-resort handler, api/problems.py).
                return
            if response_started:
                # Half an answer: only the server can end the connection.
                raise
            await send_problem(send_with_request_id, InternalError(), request_id)

    def _limited(self, scope: Scope, receive: Receive) -> Receive:
        """A receive that refuses a body over the limit, declared or chunked."""
        limit = self.max_body_bytes
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > limit:

                async def refuse() -> Message:
                    raise _too_large(limit)

                return refuse
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _too_large(limit)
            return message

        return counting_receive


def _too_large(limit: int) -> HTTPException:
    # An HTTPException, because FastAPI lets exactly that kind through while it reads a body.
    return HTTPException(413, f"The request body exceeds the limit of {limit} bytes.")
