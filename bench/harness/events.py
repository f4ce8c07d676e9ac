"""What the change feed costs (bench/README.md, "The change feed").

- `outbox`: POST create at 64 connections with every event written, and with the outbox's
  INSERT skipped by a trigger on `events` (the same build, the same statements; only the
  event row, its index entry and its WAL are not written), alternating run by run.
- `long_poll`: GET by id at 64 connections alone, then beside LONG_POLLS requests waiting on
  `GET /events?wait=30` (a thread of this process keeps them open), alternating; meanwhile
  the service's database backends are sampled: a waiting poll holds none of them busy.
"""

import asyncio
import statistics
import threading
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx

from bench.harness.database import libpq_dsn
from bench.harness.load import WrkResult, run_wrk
from bench.harness.servers import Target

CONNECTIONS = 64
LONG_POLLS = 500
LONG_POLL_WAIT_SECONDS = 30

_SKIP_EVENTS = """
    CREATE FUNCTION bench_skip_event() RETURNS trigger LANGUAGE plpgsql AS
        'BEGIN RETURN NULL; END';
    CREATE TRIGGER bench_skip_event BEFORE INSERT ON events
        FOR EACH ROW EXECUTE FUNCTION bench_skip_event();
    ALTER TABLE events DISABLE TRIGGER bench_skip_event;
"""
# Backends of the service's database doing anything but waiting for a statement, other than
# the watch each worker runs for its waiting polls (events/watcher.py): what the polls hold.
_BUSY_BACKENDS = """
    SELECT count(*) FROM pg_stat_activity
    WHERE datname = current_database() AND pid <> pg_backend_pid() AND state <> 'idle'
      AND backend_type = 'client backend'
      AND query NOT LIKE '%ORDER BY xid DESC, position DESC LIMIT 1%'
"""
BUSY_SAMPLES = 20
# From sending the polls to their waiting: each first reads the feed once, 500 at once on the
# workers' 32 connections.
SETTLE_SECONDS = 3.0


@dataclass
class PairedRuns:
    """Runs of one scenario in two conditions, measured alternately, round by round."""

    reference: list[WrkResult] = field(default_factory=list)
    changed: list[WrkResult] = field(default_factory=list)

    @property
    def shares(self) -> list[float]:
        return [
            changed.rps / reference.rps
            for reference, changed in zip(self.reference, self.changed, strict=True)
        ]

    @property
    def median_share(self) -> float:
        return statistics.median(self.shares)

    def as_json(self) -> dict[str, Any]:
        return {
            "reference": [run.as_json() for run in self.reference],
            "changed": [run.as_json() for run in self.changed],
            "shares": [round(share, 3) for share in self.shares],
        }


@dataclass
class LongPollResult:
    runs: PairedRuns
    waiting: int
    busy_backends_max: int
    answered_early: int

    def as_json(self) -> dict[str, Any]:
        return {
            "runs": self.runs.as_json(),
            "waiting": self.waiting,
            "busy_backends_max": self.busy_backends_max,
            "answered_early": self.answered_early,
        }


async def _execute(database_url: str, statement: str) -> None:
    connection = await asyncpg.connect(libpq_dsn(database_url))
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def _measure(target: Target, scenario: str, seconds: int, warmup: int, threads: int) -> WrkResult:
    if warmup:
        run_wrk(target, scenario, CONNECTIONS, warmup, threads)
    return run_wrk(target, scenario, CONNECTIONS, seconds, threads)


def run_outbox(
    service: Target, database_url: str, rounds: int, seconds: int, warmup: int, threads: int
) -> PairedRuns:
    """Creates with events written (`changed`) and with the event rows skipped (`reference`)."""
    asyncio.run(_execute(database_url, _SKIP_EVENTS))
    runs = PairedRuns()
    for number in range(rounds):
        order = (False, True) if number % 2 == 0 else (True, False)
        for skipped in order:
            switch = "ENABLE" if skipped else "DISABLE"
            asyncio.run(
                _execute(database_url, f"ALTER TABLE events {switch} TRIGGER bench_skip_event")
            )
            result = _measure(service, "create", seconds, warmup, threads)
            (runs.reference if skipped else runs.changed).append(result)
    asyncio.run(_execute(database_url, "ALTER TABLE events DISABLE TRIGGER bench_skip_event"))
    return runs


class _LongPolls:
    """LONG_POLLS requests kept waiting on the feed from a thread with its own event loop."""

    def __init__(self, service: Target, after: str) -> None:
        self._service = service
        self._after = after
        self._stop = threading.Event()
        self.waiting = 0
        self.answered_early = 0
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    def __enter__(self) -> "_LongPolls":
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(LONG_POLL_WAIT_SECONDS + 10)

    async def _run(self) -> None:
        limits = httpx.Limits(max_connections=LONG_POLLS, max_keepalive_connections=LONG_POLLS)
        headers = {"Authorization": f"Bearer {self._service.api_key}"}
        async with httpx.AsyncClient(
            base_url=self._service.base_url,
            headers=headers,
            limits=limits,
            timeout=LONG_POLL_WAIT_SECONDS + 10,
        ) as client:
            after = self._after
            tasks = [asyncio.create_task(self._poll(client, after)) for _ in range(LONG_POLLS)]
            await asyncio.to_thread(self._stop.wait)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _poll(self, client: httpx.AsyncClient, after: str) -> None:
        params: dict[str, str | int] = {"after": after, "wait": LONG_POLL_WAIT_SECONDS}
        while not self._stop.is_set():
            self.waiting += 1
            try:
                response = await client.get("/api/v1/events", params=params)
            finally:
                self.waiting -= 1
            if response.status_code != 200 or response.json()["items"]:
                self.answered_early += 1


async def newest_cursor(database_url: str) -> str:
    """The feed's cursor after every event so far, read from the table: the polls must wait,
    not page through the millions of events the earlier scenarios wrote."""
    connection = await asyncpg.connect(libpq_dsn(database_url))
    try:
        row = await connection.fetchrow(
            "SELECT xid, position FROM events ORDER BY xid DESC, position DESC LIMIT 1"
        )
    finally:
        await connection.close()
    return "0-0" if row is None else f"{row['xid']}-{row['position']}"


async def _busy_backends(database_url: str) -> int:
    """The most busy backends seen in BUSY_SAMPLES samples, 50 ms apart."""
    connection = await asyncpg.connect(libpq_dsn(database_url))
    try:
        most = 0
        for _ in range(BUSY_SAMPLES):
            most = max(most, await connection.fetchval(_BUSY_BACKENDS))
            await asyncio.sleep(0.05)
        return most
    finally:
        await connection.close()


def run_long_polls(
    service: Target, database_url: str, rounds: int, seconds: int, warmup: int, threads: int
) -> LongPollResult:
    """GET by id alone (`reference`) and beside the waiting long polls (`changed`)."""
    runs = PairedRuns()
    busy_max = 0
    waiting = 0
    answered_early = 0
    for number in range(rounds):
        order = (False, True) if number % 2 == 0 else (True, False)
        for with_polls in order:
            if not with_polls:
                runs.reference.append(_measure(service, "by_id", seconds, warmup, threads))
                continue
            with _LongPolls(service, asyncio.run(newest_cursor(database_url))) as polls:
                for _ in range(100):
                    if polls.waiting >= LONG_POLLS:
                        break
                    threading.Event().wait(0.1)
                threading.Event().wait(SETTLE_SECONDS)
                waiting = max(waiting, polls.waiting)
                busy_max = max(busy_max, asyncio.run(_busy_backends(database_url)))
                runs.changed.append(_measure(service, "by_id", seconds, warmup, threads))
                answered_early += polls.answered_early
    return LongPollResult(runs, waiting, busy_max, answered_early)
