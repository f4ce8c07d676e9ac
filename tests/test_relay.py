"""`db-postgres-service relay` as a real process, against the machine's RabbitMQ and a
throw-away database: every event of the feed reaches a queue bound to the relay's exchange,
at least once, each subject's in feed order, whatever happens to the relay or its connection.

Each test declares its own exchange and queue (named by a uuid) and deletes them after; the
broker itself is never restarted or reconfigured. Without a broker on AMQP_URL the tests are
skipped with the reason, unless DPS_REQUIRE_EVERY_TEST is set (.ci/run sets it), which makes
the missing broker a failure.
"""

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import aio_pika
import asyncpg
import httpx
import orjson
import pytest

from db_postgres_service.main import create_app

from .conftest import ThrowAwayDatabases, make_settings
from .helpers import BCRYPT_HASH, asyncpg_dsn, http_client, skip_for_lack_of
from .serving import free_port

AMQP_URL = os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
CLOUDEVENTS = "application/cloudevents+json"
WAIT_SECONDS = 30
_ITEM_START = re.compile(rb',(?=\{"specversion":"1\.0",)')


@pytest.fixture(scope="module")
async def broker() -> None:
    """The tests need RabbitMQ; say so plainly when it is not there."""
    try:
        connection = await aio_pika.connect(AMQP_URL, timeout=5)
    except Exception as error:
        skip_for_lack_of(f"no RabbitMQ on {AMQP_URL} ({type(error).__name__}: {error})")
    await connection.close()


@dataclass
class Queue:
    """A queue bound with `#` to the test's exchange: every message the relay publishes."""

    exchange: str
    received: list[aio_pika.abc.AbstractIncomingMessage] = field(default_factory=list)

    async def collect(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        self.received.append(message)

    def ids(self) -> list[str]:
        return [str(message.message_id) for message in self.received]

    async def wait_for(self, ids: set[str], seconds: float = WAIT_SECONDS) -> None:
        """Until every one of `ids` arrived at least once."""
        deadline = time.monotonic() + seconds
        while not ids <= set(self.ids()):
            missing = len(ids - set(self.ids()))
            assert time.monotonic() < deadline, f"{missing} of {len(ids)} events never arrived"
            await asyncio.sleep(0.02)


@pytest.fixture
async def queue(broker: None) -> AsyncIterator[Queue]:
    exchange_name = f"dps-test-relay-{uuid.uuid4().hex}"
    # A name without the exchange's: test (c) finds the relay's connection by that name.
    connection = await aio_pika.connect(
        AMQP_URL, client_properties={"connection_name": "db-postgres-service tests"}
    )
    try:
        channel = await connection.channel()
        # As the relay declares it: a redeclaration with other arguments would fail.
        exchange = await channel.declare_exchange(
            exchange_name, aio_pika.ExchangeType.TOPIC, durable=True
        )
        declared = await channel.declare_queue(f"{exchange_name}.all", exclusive=True)
        await declared.bind(exchange, "#")
        queue = Queue(exchange_name)
        await declared.consume(queue.collect, no_ack=True)
        try:
            yield queue
        finally:
            await declared.delete(if_unused=False, if_empty=False)
            await exchange.delete()
    finally:
        await connection.close()


@pytest.fixture
async def database(databases: ThrowAwayDatabases) -> str:
    """A database of the test's own: the relay publishes every event ever written to it."""
    return await databases.acreate()


@pytest.fixture
async def writer(database: str) -> AsyncIterator[httpx.AsyncClient]:
    """The service on that database, over ASGI: it writes the events."""
    app = create_app(make_settings(database))
    async with (
        app.router.lifespan_context(app),
        http_client(httpx.ASGITransport(app=app)) as client,
    ):
        yield client


async def create_users(client: httpx.AsyncClient, count: int) -> list[int]:
    """`count` users (each a `user.created`), created in batches; their ids."""
    ids: list[int] = []
    while len(ids) < count:
        items = [
            {
                "email": f"{uuid.uuid4().hex}@example.com",
                "username": uuid.uuid4().hex[:20],
                "password_hash": BCRYPT_HASH,
            }
            for _ in range(min(1000, count - len(ids)))
        ]
        response = await client.post("/api/v1/users/batch", json={"items": items})
        assert response.status_code == 201, response.text
        ids.extend(user["id"] for user in response.json()["items"])
    return ids


async def rename(client: httpx.AsyncClient, user_id: int) -> None:
    """One `user.updated` of that user."""
    response = await client.patch(
        f"/api/v1/users/{user_id}", json={"username": uuid.uuid4().hex[:20]}
    )
    assert response.status_code == 200, response.text


async def write_events(client: httpx.AsyncClient, users: int, renames: int) -> None:
    """`users` creates, then `renames` renames spread over the first of them in turn, so that
    subjects have several events each, interleaved with other subjects'."""
    ids = await create_users(client, users)
    for turn in range(renames):
        await rename(client, ids[turn % min(users, 25)])


async def feed_items(client: httpx.AsyncClient) -> list[bytes]:
    """Every event the HTTP feed serves now, each as the exact bytes of its item."""
    items: list[bytes] = []
    after: dict[str, str] = {}
    while True:
        response = await client.get("/api/v1/events", params={"limit": 1000, **after})
        assert response.status_code == 200, response.text
        page = orjson.loads(response.content)
        if not page["items"]:
            return items
        # The page is `{"items":[` the items `],"next_cursor":…}`; `data` is passed on as the
        # database stored it, so the items' bytes are cut out of the page, not re-encoded.
        inner = response.content[len(b'{"items":[') : response.content.rindex(b'],"next_cursor"')]
        page_items = _ITEM_START.split(inner)
        assert [orjson.loads(item) for item in page_items] == page["items"]
        items.extend(page_items)
        after = {"after": page["next_cursor"]}


def event_ids(items: list[bytes]) -> set[str]:
    return {orjson.loads(item)["id"] for item in items}


def assert_each_subject_in_feed_order(
    received: list[aio_pika.abc.AbstractIncomingMessage], items: list[bytes]
) -> None:
    """The first time each event arrived, per subject, is the feed's order of that subject:
    what a consumer that skips message ids it has seen processes."""
    seen: set[str] = set()
    first: dict[str, list[str]] = {}
    for message in received:
        event = orjson.loads(message.body)
        if event["id"] not in seen:
            seen.add(event["id"])
            first.setdefault(event["subject"], []).append(event["id"])
    expected: dict[str, list[str]] = {}
    for item in items:
        event = orjson.loads(item)
        expected.setdefault(event["subject"], []).append(event["id"])
    assert first == expected


@dataclass
class RelayProcess:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def output(self) -> str:
        return self.log.read_text()

    def get(self, path: str) -> httpx.Response:
        return httpx.get(f"http://127.0.0.1:{self.port}{path}", timeout=2)

    def healthy(self) -> bool:
        assert self.process.poll() is None, f"the relay exited:\n{self.output}"
        try:
            return self.get("/health").status_code == 200
        except httpx.HTTPError:
            return False

    def metric(self, name: str) -> float:
        """The value of an unlabelled series, or the sum of a labelled one's."""
        pattern = re.compile(rf"^{name}(?:{{[^}}]*}})? (\S+)$", re.MULTILINE)
        return sum(float(value) for value in pattern.findall(self.get("/metrics").text))


@contextmanager
def relay(
    database_url: str, exchange: str, tmp_path: Path, **variables: str
) -> Iterator[RelayProcess]:
    """`db-postgres-service relay` on the database and exchange, its /health answering;
    killed after the block if it still runs."""
    port = free_port()
    log = tmp_path / f"relay-{port}.log"
    environment = {
        **{k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"},
        "DATABASE_URL": database_url,
        "AMQP_URL": AMQP_URL,
        "RELAY_EXCHANGE": exchange,
        "RELAY_PORT": str(port),
        "LOG_FORMAT": "json",
        **variables,
    }
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "db_postgres_service", "relay"],
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    relay = RelayProcess(process, port, log)
    try:
        deadline = time.monotonic() + WAIT_SECONDS
        while not relay.healthy():
            assert time.monotonic() < deadline, f"the relay never answered /health:\n{relay.output}"
            time.sleep(0.05)
        yield relay
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(10)


async def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.02)


async def recorded_position(database_url: str, exchange: str) -> str | None:
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        row = await connection.fetchrow(
            "SELECT xid, position FROM relay_positions WHERE exchange = $1", exchange
        )
    finally:
        await connection.close()
    return None if row is None else f"{row['xid']}-{row['position']}"


async def recorded_up_to(database_url: str, exchange: str, item: bytes) -> None:
    """Until the relay recorded the position of the event `item`."""
    cursor = orjson.loads(item)["cursor"]
    deadline = time.monotonic() + WAIT_SECONDS
    while await recorded_position(database_url, exchange) != cursor:
        assert time.monotonic() < deadline, f"the relay never recorded {cursor}"
        await asyncio.sleep(0.02)


async def test_every_event_is_published_once_as_the_feed_serves_it(
    queue: Queue, database: str, writer: httpx.AsyncClient, tmp_path: Path
) -> None:
    ids = await create_users(writer, 3)
    await rename(writer, ids[0])
    response = await writer.delete(f"/api/v1/users/{ids[1]}")
    assert response.status_code == 204
    items = await feed_items(writer)

    with relay(database, queue.exchange, tmp_path):
        await queue.wait_for(event_ids(items))
        await asyncio.sleep(0.5)  # Time for a duplicate to show, were there one.

    assert [message.body for message in queue.received] == items
    events = [orjson.loads(item) for item in items]
    assert [event["type"] for event in events] == [
        "user.created",
        "user.created",
        "user.created",
        "user.updated",
        "user.deleted",
    ]
    for message, event in zip(queue.received, events, strict=True):
        assert message.exchange == queue.exchange
        assert message.routing_key == event["type"]
        assert message.content_type == CLOUDEVENTS
        assert message.message_id == event["id"]
        assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert await recorded_position(database, queue.exchange) == events[-1]["cursor"]


async def test_a_relay_killed_while_publishing_loses_nothing_once_started_again(
    queue: Queue, database: str, writer: httpx.AsyncClient, tmp_path: Path
) -> None:
    await write_events(writer, users=1500, renames=100)
    items = await feed_items(writer)
    assert len(items) == 1600

    with relay(database, queue.exchange, tmp_path, RELAY_BATCH="50") as first:
        await wait_until(lambda: len(queue.received) >= 200, "the relay published nothing")
        first.process.send_signal(signal.SIGKILL)
        first.process.wait(10)
    received_before_restart = len(set(queue.ids()))
    assert received_before_restart < len(items), "killed only after it had published all"

    with relay(database, queue.exchange, tmp_path, RELAY_BATCH="50"):
        await queue.wait_for(event_ids(items))

    assert_each_subject_in_feed_order(queue.received, items)
    assert await recorded_position(database, queue.exchange) == orjson.loads(items[-1])["cursor"]


def _relay_connection(exchange: str) -> str:
    """The broker's pid of the relay's connection, found by its connection name."""
    listing = subprocess.run(
        ["rabbitmqctl", "-q", "list_connections", "pid", "client_properties"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    pids = [line.split("\t", 1)[0] for line in listing.splitlines() if exchange in line]
    assert len(pids) == 1, listing
    return pids[0]


async def test_the_relay_goes_on_after_the_broker_closes_its_connection(
    queue: Queue, database: str, writer: httpx.AsyncClient, tmp_path: Path
) -> None:
    await write_events(writer, users=100, renames=20)

    with relay(database, queue.exchange, tmp_path) as running:
        await queue.wait_for(event_ids(await feed_items(writer)))
        pid = await asyncio.to_thread(_relay_connection, queue.exchange)
        closed = await asyncio.to_thread(
            subprocess.run,
            ["rabbitmqctl", "-q", "close_connection", pid, "test"],
            capture_output=True,
            timeout=60,
            check=False,
        )
        assert closed.returncode == 0, closed.stderr
        await write_events(writer, users=300, renames=20)
        items = await feed_items(writer)
        await queue.wait_for(event_ids(items))

        assert running.metric("relay_reconnects_total") >= 1
        assert await asyncio.to_thread(_relay_connection, queue.exchange) != pid

    assert_each_subject_in_feed_order(queue.received, items)


async def test_the_relay_goes_on_after_the_database_ends_its_sessions(
    queue: Queue, database: str, writer: httpx.AsyncClient, tmp_path: Path
) -> None:
    """As after a database restart or failover: both of its connections, the lock's with it,
    end mid-stream; it starts over from its recorded position and loses nothing."""
    await write_events(writer, users=1500, renames=100)
    items = await feed_items(writer)

    with relay(database, queue.exchange, tmp_path, RELAY_BATCH="50") as running:
        await wait_until(lambda: len(queue.received) >= 200, "the relay published nothing")
        connection = await asyncpg.connect(asyncpg_dsn(database))
        try:
            ended = await connection.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = current_database()"
                " AND application_name = 'db-postgres-service relay'"
            )
        finally:
            await connection.close()
        assert ended == 2
        assert len(set(queue.ids())) < len(items), "its sessions ended only after it was done"
        await queue.wait_for(event_ids(items))

        assert running.metric("relay_reconnects_total") >= 1

    assert_each_subject_in_feed_order(queue.received, items)
    assert await recorded_position(database, queue.exchange) == orjson.loads(items[-1])["cursor"]


async def test_a_second_relay_waits_and_goes_on_from_the_first_ones_position(
    queue: Queue, database: str, writer: httpx.AsyncClient, tmp_path: Path
) -> None:
    await write_events(writer, users=200, renames=20)
    before = await feed_items(writer)

    with relay(database, queue.exchange, tmp_path) as first:
        await queue.wait_for(event_ids(before))
        with relay(database, queue.exchange, tmp_path) as second:
            await write_events(writer, users=200, renames=20)
            while_first_ran = await feed_items(writer)
            await queue.wait_for(event_ids(while_first_ran))
            await recorded_up_to(database, queue.exchange, while_first_ran[-1])
            assert second.metric("relay_publishing") == 0
            assert second.metric("relay_events_published_total") == 0
            first.process.send_signal(signal.SIGKILL)
            first.process.wait(10)

            await write_events(writer, users=200, renames=20)
            items = await feed_items(writer)
            await queue.wait_for(event_ids(items))

            assert second.metric("relay_publishing") == 1
            assert second.metric("relay_events_published_total") == len(items) - len(
                while_first_ran
            )

    # The first published up to its recorded position, the second from there: once each.
    assert [message.body for message in queue.received] == items


async def test_sigterm_stops_the_relay_promptly_with_status_0(
    queue: Queue, database: str, writer: httpx.AsyncClient, tmp_path: Path
) -> None:
    await write_events(writer, users=1000, renames=0)

    with relay(database, queue.exchange, tmp_path, RELAY_BATCH="20") as running:
        await wait_until(lambda: len(queue.received) > 0, "the relay published nothing")
        started = time.monotonic()
        running.process.send_signal(signal.SIGTERM)
        status = await asyncio.to_thread(running.process.wait, 10)
        stopped_in = time.monotonic() - started

    assert status == 0, running.output
    assert stopped_in < 3
    assert '"message":"relay stopped"' in running.output


async def test_health_and_metrics_answer_on_the_relay_port(
    queue: Queue, database: str, writer: httpx.AsyncClient, tmp_path: Path
) -> None:
    await write_events(writer, users=10, renames=2)
    items = await feed_items(writer)

    with relay(database, queue.exchange, tmp_path) as running:
        await queue.wait_for(event_ids(items))
        await wait_until(
            lambda: running.metric("relay_events_published_total") == 12,
            "the published events were not counted",
        )
        health = running.get("/health")
        metrics = running.get("/metrics")

    assert health.status_code == 200
    assert health.json() == {"status": "ok"}
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain")
    text = metrics.text
    assert re.search(r"^relay_lag_events 0\.0$", text, re.MULTILINE), text
    assert re.search(r"^relay_lag_seconds 0\.0$", text, re.MULTILINE), text
    assert re.search(r"^relay_publishing 1\.0$", text, re.MULTILINE), text
    assert re.search(r'^relay_events_published_total\{type="user.created"\} 10\.0$', text, re.M)
    assert re.search(r'^relay_events_published_total\{type="user.updated"\} 2\.0$', text, re.M)
    assert re.search(r"^relay_publish_errors_total 0\.0$", text, re.MULTILINE), text
    assert re.search(r"^relay_reconnects_total 0\.0$", text, re.MULTILINE), text
