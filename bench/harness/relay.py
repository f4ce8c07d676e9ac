"""Does the relay keep up with the service's sustained create rate?

`db-postgres-service relay` runs as production runs it (its own process, RabbitMQ on
127.0.0.1:5672) on a throw-away exchange with a queue bound to it (bounded, so that the
broker does not hoard a minute of messages). It first publishes the backlog the earlier
scenarios wrote (the catch-up is timed), then wrk runs POST create at 64 connections for
RELAY_SECONDS while the relay's own /metrics is sampled every SAMPLE_SECONDS: its lag must
not grow.
"""

import asyncio
import os
import signal
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aio_pika
import asyncpg
import httpx

from bench.harness.config import REPO_DIR, VENV_BIN
from bench.harness.database import libpq_dsn
from bench.harness.load import WrkResult, run_wrk
from bench.harness.ports import free_port
from bench.harness.servers import Target

AMQP_URL = os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
RELAY_SECONDS = 60
SAMPLE_SECONDS = 5
CATCH_UP_TIMEOUT_SECONDS = 600
CONNECTIONS = 64
QUEUE_MAX_LENGTH = 10_000


@dataclass
class LagSample:
    at_seconds: float
    events: float
    seconds: float
    published: float


@dataclass
class RelayResult:
    backlog: int
    catch_up_seconds: float
    load: WrkResult
    samples: list[LagSample] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "backlog": self.backlog,
            "catch_up_seconds": round(self.catch_up_seconds, 1),
            "load": self.load.as_json(),
            "samples": [sample.__dict__ for sample in self.samples],
        }


def _metrics(url: str) -> dict[str, float]:
    """The relay's unlabelled samples, and the published total summed over types."""
    values: dict[str, float] = {"published": 0.0}
    for line in httpx.get(url, timeout=5).text.splitlines():
        if line.startswith("#") or " " not in line:
            continue
        name, value = line.rsplit(" ", 1)
        if name.startswith("relay_events_published_total{"):
            values["published"] += float(value)
        else:
            values[name] = float(value)
    return values


async def _declare(exchange: str, queue: str) -> None:
    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        channel = await connection.channel()
        declared = await channel.declare_exchange(
            exchange, aio_pika.ExchangeType.TOPIC, durable=True
        )
        bound = await channel.declare_queue(
            queue, arguments={"x-max-length": QUEUE_MAX_LENGTH, "x-overflow": "drop-head"}
        )
        await bound.bind(declared, routing_key="#")


async def _delete(exchange: str, queue: str) -> None:
    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        channel = await connection.channel()
        await channel.queue_delete(queue)
        await channel.exchange_delete(exchange)


async def _backlog(database_url: str) -> tuple[int, tuple[int, int]]:
    """How many events there are, and the feed position of the newest."""
    connection = await asyncpg.connect(libpq_dsn(database_url))
    try:
        count: int = await connection.fetchval("SELECT count(*) FROM events")
        row = await connection.fetchrow(
            "SELECT xid, position FROM events ORDER BY xid DESC, position DESC LIMIT 1"
        )
    finally:
        await connection.close()
    return count, (0, 0) if row is None else (row["xid"], row["position"])


async def _recorded(database_url: str, exchange: str) -> tuple[int, int]:
    """The position the relay recorded for `exchange` (after the broker confirmed it)."""
    connection = await asyncpg.connect(libpq_dsn(database_url))
    try:
        row = await connection.fetchrow(
            "SELECT xid, position FROM relay_positions WHERE exchange = $1", exchange
        )
    finally:
        await connection.close()
    return (0, 0) if row is None else (row["xid"], row["position"])


def _start_relay(database_url: str, exchange: str, port: int, log_path: Path) -> Any:
    environment = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    environment.update(
        DATABASE_URL=database_url,
        AMQP_URL=AMQP_URL,
        RELAY_EXCHANGE=exchange,
        RELAY_PORT=str(port),
        LOG_FORMAT="json",
        LOG_LEVEL="INFO",
    )
    with log_path.open("wb") as log:
        return subprocess.Popen(  # noqa: S603 - our own executable, fixed arguments
            [str(VENV_BIN / "db-postgres-service"), "relay"],
            cwd=REPO_DIR,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def _wait_for(condition: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():
                return True
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    return False


def run_relay(service: Target, database_url: str, threads: int, log_path: Path) -> RelayResult:
    suffix = uuid.uuid4().hex[:10]
    exchange, queue = f"dps-bench-{suffix}", f"dps-bench-{suffix}"
    asyncio.run(_declare(exchange, queue))
    port = free_port()
    metrics_url = f"http://127.0.0.1:{port}/metrics"
    process = _start_relay(database_url, exchange, port, log_path)
    try:
        if not _wait_for(lambda: _metrics(metrics_url).get("relay_publishing") == 1, 60):
            raise RuntimeError(f"the relay did not start publishing; see {log_path}")
        started = time.monotonic()
        backlog, newest = asyncio.run(_backlog(database_url))
        if not _wait_for(
            lambda: asyncio.run(_recorded(database_url, exchange)) >= newest,
            CATCH_UP_TIMEOUT_SECONDS,
        ):
            raise RuntimeError(f"the relay did not publish the backlog; see {log_path}")
        catch_up = time.monotonic() - started
        samples: list[LagSample] = []
        done = threading.Event()

        def sample() -> None:
            began = time.monotonic()
            while not done.wait(SAMPLE_SECONDS):
                values = _metrics(metrics_url)
                samples.append(
                    LagSample(
                        round(time.monotonic() - began, 1),
                        values.get("relay_lag_events", 0.0),
                        round(values.get("relay_lag_seconds", 0.0), 2),
                        values["published"],
                    )
                )

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            load = run_wrk(service, "create", CONNECTIONS, RELAY_SECONDS, threads)
        finally:
            done.set()
            sampler.join()
        return RelayResult(backlog, catch_up, load, samples)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        asyncio.run(_delete(exchange, queue))
