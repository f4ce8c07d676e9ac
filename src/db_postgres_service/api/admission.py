"""Admission control: a worker runs a bounded number of requests; the rest wait briefly, in fair
shares per client, or are refused (429 or 503) without running.

The server accepts every connection (connections are cheap and a caller's pool must never hang
unanswered); what is bounded here is the work. A request that cannot start within the queue
budget is answered at once with `Retry-After` and never runs later, so a caller that has
given up cannot have its write land afterwards: 429 when its client is over its fair share of
the saturated worker or over its own limit, 503 when the worker is simply at capacity. A
queued request whose caller hangs up is dropped before it starts. Probes are exempt: they must
answer while the worker is saturated. A request that only waits (a long poll of the change
feed) steps aside meanwhile (`Admission.stepped_aside`), so that hundreds of them take no
place from work.
"""

import asyncio
from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from db_postgres_service.api.authentication import (
    Caller,
    ClientAuthenticator,
    key_check_failed,
    request_token,
)
from db_postgres_service.api.fair_shares import Evicted, FairShares, Refusal, Tenant, Turn
from db_postgres_service.api.metrics import CLIENT_REQUESTS_REFUSED
from db_postgres_service.api.problems import send_problem
from db_postgres_service.core.db_errors import DATABASE_FAILURES
from db_postgres_service.core.errors import ServiceError, ServiceUnavailable, TooManyRequests


class _QueueBudgetSpent(Exception):
    """The request waited as long as it may."""


class _CallerDeparted(Exception):
    """The caller closed the connection while the request waited."""


# The share of the requests without a valid key: together they take no more than one client's
# share from the clients.
KEYLESS = "(no valid key)"
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

    def __init__(self, receive: Receive, turn: Turn) -> None:
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

    def __init__(self, receive: Receive, turn: Turn) -> None:
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
    """The worker's places and line are `shares` (api/fair_shares.py): requests run or wait
    there, at most `queue_timeout` seconds each, and the places that free go to the clients in
    fair shares. A client's own limit of requests in flight is split among
    the instance's `workers`."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        shares: FairShares,
        authenticator: ClientAuthenticator,
        queue_timeout: float,
        exempt_paths: Collection[str],
        workers: int,
    ) -> None:
        self.app = app
        self.shares = shares
        self.authenticator = authenticator
        self._queue_timeout = queue_timeout
        self._exempt_paths = frozenset(exempt_paths)
        self._workers = workers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self._exempt_paths:
            await self.app(scope, receive, send)
            return
        shares = self.shares
        # Who calls, for its share: its key's last verdict however old (authentication checks
        # the key itself once the request runs); a key seen for the first time is looked up
        # here, and a database that cannot answer is 503 at once.
        token = request_token(scope)
        caller = None
        if token is not None:
            authenticator = self.authenticator
            verdict = authenticator.cached(token)
            if verdict is not None:
                caller = verdict[1]
            else:
                try:
                    caller = await authenticator.caller(token)
                except DATABASE_FAILURES as error:
                    await send_problem(send, key_check_failed(error), scope["state"]["request_id"])
                    return
        tenant = self._tenant(caller)
        if tenant.limit is not None and shares.over_limit(tenant):
            await self._refuse(scope, send, tenant, Refusal.OVER_LIMIT)
            return
        if not shares.start_at_once(tenant):
            watch = await self._wait_for_turn(scope, receive, send, tenant)
            if watch is None:
                return
            receive = watch.receive
        admission = Admission(self, tenant)
        scope["state"]["admission"] = admission
        try:
            await self.app(scope, receive, send)
        finally:
            admission.leave()

    def _tenant(self, caller: Caller | None) -> Tenant:
        """The caller's share; requests without a valid key share one client's share."""
        if caller is None:
            return self.shares.tenant(KEYLESS, None)
        limit = caller.max_in_flight
        return self.shares.tenant(
            caller.name, None if limit is None else max(1, limit // self._workers)
        )

    async def rejoin(self, tenant: Tenant) -> Tenant:
        """Take a place again, after the longest-waiting requests: no budget, no refusal, the
        request has started and its caller waits for its answer. The client's share as it is
        now (the request held none meanwhile)."""
        tenant = self.shares.tenant(tenant.name, tenant.limit)
        if self.shares.start_at_once(tenant):
            return tenant
        turn: Turn = asyncio.get_running_loop().create_future()
        self.shares.rejoin_line(tenant, turn)
        try:
            await turn
        except BaseException:
            if turn.done() and not turn.cancelled():
                self.shares.finish(tenant)
            else:
                self.shares.leave_line(tenant, turn)
            raise
        return tenant

    async def _wait_for_turn(
        self, scope: Scope, receive: Receive, send: Send, tenant: Tenant
    ) -> _DepartureWatch | None:
        """The request's watch once it is admitted; None when it was answered, or its caller
        left, without it running."""
        loop = asyncio.get_running_loop()
        turn: Turn = loop.create_future()
        refusal = self.shares.line_up(tenant, turn)
        if refusal is not None:
            await self._refuse(scope, send, tenant, refusal)
            return None
        expiry = loop.call_later(self._queue_timeout, _spend_budget, turn)
        watch = _DepartureWatch(receive, turn)
        try:
            await turn
        except _QueueBudgetSpent:
            refusal = self.shares.refusal_after_waiting(tenant)
            self._forget(tenant, turn, watch)
            await self._refuse(scope, send, tenant, refusal)
            return None
        except Evicted:
            self._forget(tenant, turn, watch)
            await self._refuse(scope, send, tenant, Refusal.OVER_SHARE)
            return None
        except _CallerDeparted:
            # Nobody is left to answer: the access log shows 499 (client closed request).
            self._forget(tenant, turn, watch)
            return None
        except BaseException:
            # Cancelled (the server shuts down): a place handed over meanwhile goes on.
            if turn.done() and not turn.cancelled() and turn.exception() is None:
                self.shares.finish(tenant)
            self._forget(tenant, turn, watch)
            watch.cancel()
            raise
        finally:
            expiry.cancel()
        watch.stop_watching()
        return watch

    def _forget(self, tenant: Tenant, turn: Turn, watch: _DepartureWatch) -> None:
        watch.stop_watching()
        self.shares.leave_line(tenant, turn)

    async def _refuse(self, scope: Scope, send: Send, tenant: Tenant, refusal: Refusal) -> None:
        CLIENT_REQUESTS_REFUSED.labels(tenant.name, refusal.value).inc()
        await send_problem(send, self._problem(tenant, refusal), scope["state"]["request_id"])

    def _problem(self, tenant: Tenant, refusal: Refusal) -> ServiceError:
        who = (
            "requests without a valid API key"
            if tenant.name == KEYLESS
            else f"the client {tenant.name!r}"
        )
        not_run = "the request was not executed."
        if refusal is Refusal.OVER_LIMIT:
            return TooManyRequests(
                f"Over its own limit: {who} already has {tenant.limit} request(s) in flight on "
                f"this worker, its part of the client's max-in-flight; {not_run}"
            )
        if refusal is Refusal.OVER_SHARE:
            return TooManyRequests(
                f"Over its fair share: the service is saturated and {who} holds at least its "
                f"share of it while other clients wait; {not_run}"
            )
        return ServiceUnavailable(
            "The service is at capacity: the request could not start within "
            f"{self._queue_timeout:g} s and was not executed."
        )


class Admission:
    """A running request's place: given up while the request only waits, taken again after."""

    def __init__(self, middleware: AdmissionMiddleware, tenant: Tenant) -> None:
        self._middleware = middleware
        self._tenant = tenant
        self._held = True

    def leave(self) -> None:
        if self._held:
            self._held = False
            self._middleware.shares.finish(self._tenant)

    @asynccontextmanager
    async def stepped_aside(self) -> AsyncIterator[None]:
        """Inside the block, the request counts as neither running nor waiting."""
        self.leave()
        try:
            yield
        finally:
            self._tenant = await self._middleware.rejoin(self._tenant)
            self._held = True


def _spend_budget(turn: Turn) -> None:
    if not turn.done():
        turn.set_exception(_QueueBudgetSpent())
