"""Admission control: a worker runs a bounded number of requests; the rest wait briefly or get 503.

The server accepts every connection (connections are cheap and a caller's pool must never hang
unanswered); what is bounded here is the work. A request that cannot start within the queue
budget is answered 503 with `Retry-After` at once and never runs later, so a caller that has
given up cannot have its write land afterwards. A queued request whose caller hangs up is
dropped before it starts. Probes are exempt: they must answer while the worker is saturated.
A request that only waits (a long poll of the change feed) steps aside meanwhile
(`Admission.stepped_aside`), so that hundreds of them take no place from work.
"""

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from db_postgres_service.api.problems import send_problem
from db_postgres_service.core.errors import ServiceUnavailable


class _QueueBudgetSpent(Exception):
    """The request waited as long as it may."""


class _CallerDeparted(Exception):
    """The caller closed the connection while the request waited."""


_Turn = asyncio.Future[None]
# A request waits this long before its connection is watched for the caller hanging up.
WATCH_AFTER_SECONDS = 0.05
# How much of a waiting request's body is read ahead to notice its caller leaving: a create or
# an update is far smaller; a larger body stays in the server's buffers, so that a full queue
# holds at most this much per request.
_READ_AHEAD_BYTES = 64 * 1024


class _RequestReader:
    """Reads a waiting request's messages, so that a caller who hangs up is noticed at once.

    Once the request is admitted, the application receives the same messages in order (an
    error the read raised, such as an oversized body, is raised to it in its place), then
    whatever the server has beyond the read-ahead.
    """

    def __init__(self, receive: Receive, turn: _Turn) -> None:
        self._receive = receive
        self._turn = turn
        self._messages: asyncio.Queue[Message | Exception] = asyncio.Queue()
        self._task = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        read = 0
        while read <= _READ_AHEAD_BYTES:
            try:
                message = await self._receive()
            except Exception as error:
                self._messages.put_nowait(error)
                return
            self._messages.put_nowait(message)
            if message["type"] == "http.disconnect":
                if not self._turn.done():
                    self._turn.set_exception(_CallerDeparted())
                return
            read += len(message.get("body", b""))

    async def receive(self) -> Message:
        if self._messages.empty() and self._task.done():
            return await self._receive()
        item = await self._messages.get()
        if isinstance(item, Exception):
            raise item
        return item

    def cancel(self) -> None:
        self._task.cancel()


class _DepartureWatch:
    """Watches a waiting request for its caller hanging up, from `WATCH_AFTER_SECONDS` on.

    Most waits are a few milliseconds, far shorter than any caller waits before giving up;
    reading each of those requests ahead would cost a task per request (a fifth of a GET by
    id, measured), for nothing.
    """

    def __init__(self, receive: Receive, turn: _Turn) -> None:
        self._receive = receive
        self._turn = turn
        self._reader: _RequestReader | None = None
        self._timer = asyncio.get_running_loop().call_later(WATCH_AFTER_SECONDS, self._start)

    def _start(self) -> None:
        if not self._turn.done():
            self._reader = _RequestReader(self._receive, self._turn)

    @property
    def receive(self) -> Receive:
        """What the admitted request reads its messages with."""
        return self._receive if self._reader is None else self._reader.receive

    def stop_watching(self) -> None:
        """No watch starts any more. A reader that runs ends by itself, after the response is
        sent, when receive() answers http.disconnect (the ASGI specification): cancelling it
        instead would leave a cycle (error, traceback, frame, reader, task) to the collector
        for every such request, whose full collections then stalled the loop for 150 ms."""
        self._timer.cancel()

    def cancel(self) -> None:
        self._timer.cancel()
        if self._reader is not None:
            self._reader.cancel()


class AdmissionMiddleware:
    """At most `limit` requests of this worker run at once; up to `queue_length` more wait, in
    arrival order, at most `queue_timeout` seconds each."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        limit: int,
        queue_length: int,
        queue_timeout: float,
        exempt_paths: Collection[str],
    ) -> None:
        self.app = app
        self._limit = limit
        self._queue_length = queue_length
        self._queue_timeout = queue_timeout
        self._exempt_paths = frozenset(exempt_paths)
        self._running = 0
        # Turns of waiting requests, oldest first. One that expired or whose caller left is
        # resolved at once and leaves the queue when its request wakes up.
        self._waiting: deque[_Turn] = deque()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self._exempt_paths:
            await self.app(scope, receive, send)
            return
        watch = None
        if self._running < self._limit and not self._waiting:
            self._running += 1
        else:
            watch = await self._wait_for_turn(scope, receive, send)
            if watch is None:
                return
            receive = watch.receive
        admission = Admission(self)
        scope["state"]["admission"] = admission
        try:
            await self.app(scope, receive, send)
        finally:
            admission.leave()

    async def rejoin(self) -> None:
        """Take a place again, after the longest-waiting requests; no budget: the request
        has started, and its caller waits for its answer."""
        if self._running < self._limit and not self._waiting:
            self._running += 1
            return
        turn: _Turn = asyncio.get_running_loop().create_future()
        self._waiting.append(turn)
        try:
            await turn
        except BaseException:
            if turn.done() and not turn.cancelled():
                self.pass_turn_on()
            elif turn in self._waiting:
                self._waiting.remove(turn)
            raise

    def pass_turn_on(self) -> None:
        """The finished request's place goes to the longest-waiting request, if any."""
        waiting = self._waiting
        while waiting:
            turn = waiting.popleft()
            if not turn.done():
                turn.set_result(None)
                return
        self._running -= 1

    async def _wait_for_turn(
        self, scope: Scope, receive: Receive, send: Send
    ) -> _DepartureWatch | None:
        """The request's watch once it is admitted; None when it was answered, or its caller
        left, without it running."""
        if len(self._waiting) >= self._queue_length:
            await self._refuse(scope, send)
            return None
        loop = asyncio.get_running_loop()
        turn: _Turn = loop.create_future()
        self._waiting.append(turn)
        expiry = loop.call_later(self._queue_timeout, _spend_budget, turn)
        watch = _DepartureWatch(receive, turn)
        try:
            await turn
        except _QueueBudgetSpent:
            self._forget(turn, watch)
            await self._refuse(scope, send)
            return None
        except _CallerDeparted:
            # Nobody is left to answer: the access log shows 499 (client closed request).
            self._forget(turn, watch)
            return None
        except BaseException:
            # Cancelled (the server shuts down): a place handed over meanwhile goes on.
            if turn.done() and not turn.cancelled() and turn.exception() is None:
                self.pass_turn_on()
            self._forget(turn, watch)
            watch.cancel()
            raise
        finally:
            expiry.cancel()
        watch.stop_watching()
        return watch

    def _forget(self, turn: _Turn, watch: _DepartureWatch) -> None:
        watch.stop_watching()
        if turn in self._waiting:
            self._waiting.remove(turn)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        refusal = ServiceUnavailable(
            "The service is at capacity: the request could not start within "
            f"{self._queue_timeout:g} s and was not executed."
        )
        await send_problem(send, refusal, scope["state"]["request_id"])


class Admission:
    """A running request's place: given up while the request only waits, taken again after."""

    def __init__(self, middleware: AdmissionMiddleware) -> None:
        self._middleware = middleware
        self._held = True

    def leave(self) -> None:
        if self._held:
            self._held = False
            self._middleware.pass_turn_on()

    @asynccontextmanager
    async def stepped_aside(self) -> AsyncIterator[None]:
        """Inside the block, the request counts as neither running nor waiting."""
        self.leave()
        try:
            yield
        finally:
            await self._middleware.rejoin()
            self._held = True


def _spend_budget(turn: _Turn) -> None:
    if not turn.done():
        turn.set_exception(_QueueBudgetSpent())
