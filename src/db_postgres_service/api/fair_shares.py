"""Whose waiting request runs next on a saturated worker: every client gets its fair share.

A worker runs at most `limit` requests at once. While a place is free and nobody waits, a
request starts at once, whoever sent it: unsaturated, nothing changes. Once the worker is
saturated, requests wait in one line per client, and a place that frees goes to the waiting
client that runs the fewest requests (round robin among equals). So a client that sends few
requests has them run almost at once however many another one sends, and clients that all
send many share the places equally.

A client's share is `1 / clients with requests running or waiting here` of the places and of
the line. A client holding at least its share of either while another client is active is
*over its share*: when its request cannot wait (the line is full) or has waited its budget, it
is refused as over its share (429); a full line takes a waiting place from the client with the
most waiting requests rather than refuse a client within its share. Alone, a client is never
over its share: a worker it saturates by itself is simply at capacity (503). An operator's
hard limit (`clients limit`) bounds a client's requests running and waiting here; beyond it
they are refused (429).

Pure bookkeeping, no I/O: admission.py does the waiting and the answering.
"""

import asyncio
from collections import deque
from dataclasses import dataclass, field
from enum import Enum

Turn = asyncio.Future[None]


class Refusal(Enum):
    """Why a request was refused without running (the metric's `reason` label)."""

    OVER_LIMIT = "over_limit"
    OVER_SHARE = "over_share"
    AT_CAPACITY = "at_capacity"


class Evicted(Exception):
    """The request's waiting place went to a client within its share."""


@dataclass(eq=False, slots=True)
class Tenant:
    """One client's requests on this worker, while it has any running or waiting."""

    name: str
    # Requests running and waiting here at most; None: no limit of its own.
    limit: int | None
    running: int = 0
    waiting: deque[Turn] = field(default_factory=deque)

    @property
    def in_flight(self) -> int:
        return self.running + len(self.waiting)


class FairShares:
    def __init__(self, limit: int, queue_length: int) -> None:
        self._limit = limit
        self._queue_length = queue_length
        self._running = 0
        self._waiting = 0
        # Clients with requests running or waiting, by name.
        self._tenants: dict[str, Tenant] = {}
        # Clients with requests waiting; the least recently served first.
        self._lines: dict[str, Tenant] = {}

    def tenant(self, name: str, limit: int | None) -> Tenant:
        """The client's bookkeeping here, with its latest limit."""
        tenant = self._tenants.get(name)
        if tenant is None:
            tenant = self._tenants[name] = Tenant(name, limit)
        else:
            tenant.limit = limit
        return tenant

    def start_at_once(self, tenant: Tenant) -> bool:
        """Whether the request takes a place now (then it runs); else it must wait."""
        if self._running < self._limit and not self._waiting:
            self._running += 1
            tenant.running += 1
            return True
        return False

    def running_by_client(self) -> dict[str, int]:
        return {name: tenant.running for name, tenant in self._tenants.items()}

    def over_limit(self, tenant: Tenant) -> bool:
        return tenant.limit is not None and tenant.in_flight >= tenant.limit

    def over_share(self, tenant: Tenant) -> bool:
        """Whether the client holds at least its share of the places, or of the line, while
        another client has requests here too."""
        active = len(self._tenants)
        return active > 1 and (
            tenant.running * active >= self._limit
            or len(tenant.waiting) * active >= self._queue_length
        )

    def line_up(self, tenant: Tenant, turn: Turn) -> Refusal | None:
        """Put the request in its client's line; or why it cannot wait. A full line makes room
        by evicting the newest waiting request of the client with the most waiting."""
        if self._waiting >= self._queue_length:
            heaviest = max(self._lines.values(), key=_waiting_count, default=None)
            if heaviest is None or len(heaviest.waiting) <= len(tenant.waiting):
                refusal = self._refusal(tenant)
                self._forget_if_idle(tenant)
                return refusal
            evicted = heaviest.waiting.pop()
            self._waiting -= 1
            self._left_line(heaviest)
            if not evicted.done():
                evicted.set_exception(Evicted())
        self.rejoin_line(tenant, turn)
        return None

    def rejoin_line(self, tenant: Tenant, turn: Turn) -> None:
        """Wait for a place whatever the lines hold: a request that stepped aside comes back."""
        tenant.waiting.append(turn)
        self._waiting += 1
        self._lines.setdefault(tenant.name, tenant)

    def refusal_after_waiting(self, tenant: Tenant) -> Refusal:
        return self._refusal(tenant)

    def leave_line(self, tenant: Tenant, turn: Turn) -> None:
        """A waiting request leaves without running (refused, its caller gone, cancelled)."""
        if turn in tenant.waiting:
            tenant.waiting.remove(turn)
            self._waiting -= 1
            self._left_line(tenant)
        self._forget_if_idle(tenant)

    def finish(self, tenant: Tenant) -> None:
        """A running request is done: its place goes to the next waiting request, if any."""
        tenant.running -= 1
        while self._lines:
            chosen = min(self._lines.values(), key=_running_count)
            turn = chosen.waiting.popleft()
            self._waiting -= 1
            # Served last now among equals: to the end of the round.
            del self._lines[chosen.name]
            if chosen.waiting:
                self._lines[chosen.name] = chosen
            if not turn.done():
                chosen.running += 1
                turn.set_result(None)
                self._forget_if_idle(tenant)
                return
        self._running -= 1
        # _forget_if_idle, inline: this is every request's way out.
        if not tenant.running and not tenant.waiting:
            self._tenants.pop(tenant.name, None)

    def _refusal(self, tenant: Tenant) -> Refusal:
        return Refusal.OVER_SHARE if self.over_share(tenant) else Refusal.AT_CAPACITY

    def _left_line(self, tenant: Tenant) -> None:
        if not tenant.waiting:
            self._lines.pop(tenant.name, None)

    def _forget_if_idle(self, tenant: Tenant) -> None:
        if not tenant.running and not tenant.waiting:
            self._tenants.pop(tenant.name, None)


def _waiting_count(tenant: Tenant) -> int:
    return len(tenant.waiting)


def _running_count(tenant: Tenant) -> int:
    return tenant.running
