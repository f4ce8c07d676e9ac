"""A migration of users while 32 connections read and write users through the service: it
adds a column with a default and builds an index on 200,000 rows, and no request stalls for a
second or fails.

The traffic goes through HTTP to `serve` (two workers and their pools), so that a stall is
what a calling service would see, the service's own queueing included. The test client's own
time is counted in each latency too: that makes the bound stricter, not looser.
"""

import asyncio
import itertools
import random
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from alembic import command

from .conftest import ThrowAwayDatabases
from .helpers import TEST_API_KEY
from .migration_scripts import (
    EXPAND_USERS,
    NEXT,
    add_users,
    config_for,
    users_schema,
    with_next_migration,
)
from .serving import serving

USERS = 200_000
CONNECTIONS = 32
# Requests of the first seconds are not timed: they open the service's pools and connections.
WARM_UP_SECONDS = 2.0
# Traffic timed before the migration starts and after it ends, to compare with.
BESIDE_SECONDS = 1.0


@dataclass(frozen=True)
class Request:
    started: float
    finished: float

    @property
    def seconds(self) -> float:
        return self.finished - self.started


@dataclass
class Traffic:
    """Every request timed since the warm-up, and every failure at any time."""

    timing: bool = False
    timed: list[Request] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def longest(self, start: float, end: float) -> float:
        """The longest request that was in flight at some moment between start and end."""
        return max(r.seconds for r in self.timed if r.started < end and r.finished > start)

    def overlapping(self, start: float, end: float) -> int:
        return sum(r.started < end and r.finished > start for r in self.timed)


async def read_and_write(base_url: str, stop: asyncio.Event, traffic: Traffic) -> None:
    """One connection's requests, back to back: three reads of a user, then a write of one."""
    headers = {"Authorization": f"Bearer {TEST_API_KEY}"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30) as client:
        for turn in itertools.count():
            if stop.is_set():
                return
            path = f"/api/v1/users/{random.randint(1, USERS)}"
            started, timed = time.monotonic(), traffic.timing
            try:
                if turn % 4 == 3:
                    response = await client.patch(path, json={"username": uuid.uuid4().hex[:20]})
                else:
                    response = await client.get(path)
            except httpx.HTTPError as error:
                traffic.errors.append(f"{path}: {error!r}")
                continue
            if response.status_code != 200:
                traffic.errors.append(f"{response.request.method} {path}: {response.text}")
            if timed:
                traffic.timed.append(Request(started, time.monotonic()))


async def test_a_migration_of_users_stalls_no_request_of_32_connections_for_a_second(
    databases: ThrowAwayDatabases, tmp_path: Path
) -> None:
    url = await databases.acreate()
    await add_users(url, USERS)
    upgrade = config_for(with_next_migration(tmp_path, EXPAND_USERS), url)
    traffic = Traffic()
    stop = asyncio.Event()

    with serving(url) as service:
        load = [
            asyncio.create_task(read_and_write(service.base_url, stop, traffic))
            for _ in range(CONNECTIONS)
        ]
        await asyncio.sleep(WARM_UP_SECONDS)
        traffic.timing = True
        await asyncio.sleep(BESIDE_SECONDS)
        started = time.monotonic()
        await asyncio.to_thread(command.upgrade, upgrade, "head")
        ended = time.monotonic()
        await asyncio.sleep(BESIDE_SECONDS)
        stop.set()
        await asyncio.gather(*load)

    longest = traffic.longest(started, ended)
    print(
        f"\nmigration {ended - started:.2f} s, {traffic.overlapping(started, ended)} requests "
        f"in flight during it, longest {longest * 1000:.0f} ms; longest in the second before "
        f"{traffic.longest(started - BESIDE_SECONDS, started) * 1000:.0f} ms, after "
        f"{traffic.longest(ended, ended + BESIDE_SECONDS) * 1000:.0f} ms"
    )
    assert traffic.errors == []
    assert traffic.overlapping(started, ended) >= CONNECTIONS
    assert longest < 1.0
    schema = await users_schema(url)
    assert schema.revision == NEXT
    assert "locale" in schema.columns
    assert "ix_users_locale" in schema.indexes
    assert schema.invalid_indexes == frozenset()
