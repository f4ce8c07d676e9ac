"""Events to RabbitMQ: each one a persistent message on the durable topic exchange, routed by
its type, with the feed's JSON as its body, confirmed by the broker (publisher confirms).

pika on the running event loop (its asyncio adapter), not aio-pika: aio-pika awaits a future
in a task of its own per message and writes each one with a system call, 274 µs of CPU per
event against pika's 27 µs, which writes a batch into its buffer and counts the broker's
(mostly multiple) acknowledgements (bench/README.md). On a machine the relay shares with the
service, that is what keeps it up with the creates.
"""

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Callable, Sequence
from typing import Any

import asyncpg
import pika  # type: ignore[import-untyped]  # pika ships no type hints
import pika.exceptions  # type: ignore[import-untyped]
from pika.adapters.asyncio_connection import AsyncioConnection  # type: ignore[import-untyped]
from pika.channel import Channel  # type: ignore[import-untyped]
from pika.spec import Basic  # type: ignore[import-untyped]

from db_postgres_service.events.cloudevents import CONTENT_TYPE, event_json

logger = logging.getLogger(__name__)
CONNECT_TIMEOUT_SECONDS = 10.0
# A broker that neither confirms nor refuses a batch (a resource alarm blocks publishers) is
# treated as lost: the relay starts over rather than wait forever.
CONFIRM_TIMEOUT_SECONDS = 30.0
CLOSE_TIMEOUT_SECONDS = 2.0
PERSISTENT = 2


class PublishFailed(Exception):
    """A batch was not confirmed whole: refused (nack), or the channel or connection failed."""


def connection_name(exchange: str) -> str:
    """How operators (`rabbitmqctl list_connections client_properties`) tell relays apart."""
    return f"db-postgres-service relay to {exchange} ({socket.gethostname()} pid {os.getpid()})"


class Publisher:
    """One connection and one channel in confirm mode. A failure leaves it unusable: the
    relay closes it and starts over from its recorded position with a new one."""

    def __init__(self, exchange: str) -> None:
        self._exchange = exchange
        self._connection: AsyncioConnection | None = None
        self._channel: Channel | None = None
        # The step being waited for (open, declare, a batch's confirms), failed by a close.
        self._waiting: asyncio.Future[Any] | None = None
        self._failure: PublishFailed | None = None
        self._closed = asyncio.get_running_loop().create_future()
        self._sent = 0
        self._unconfirmed: set[int] = set()
        # Called once every event of the batch in flight is confirmed.
        self._confirmed: Callable[[Any], None] | None = None

    @classmethod
    async def open(cls, url: str, exchange: str) -> "Publisher":
        publisher = cls(exchange)
        try:
            await publisher._open(url)
        except BaseException:
            await publisher.close()
            raise
        logger.info(
            "connected to RabbitMQ, publishing to exchange %s",
            exchange,
            extra={"event": "relay_broker_connected", "exchange": exchange},
        )
        return publisher

    async def _open(self, url: str) -> None:
        parameters = pika.URLParameters(url)
        parameters.client_properties = {"connection_name": connection_name(self._exchange)}
        parameters.connection_attempts = 1
        connection = await self._step(
            lambda done: self._connect(parameters, done), CONNECT_TIMEOUT_SECONDS
        )
        channel: Channel = await self._step(
            lambda done: connection.channel(on_open_callback=done), CONNECT_TIMEOUT_SECONDS
        )
        channel.add_on_close_callback(self._on_channel_closed)
        self._channel = channel
        await self._step(
            lambda done: channel.exchange_declare(
                self._exchange, "topic", durable=True, callback=done
            ),
            CONNECT_TIMEOUT_SECONDS,
        )
        await self._step(
            lambda done: channel.confirm_delivery(self._on_confirmation, callback=done),
            CONNECT_TIMEOUT_SECONDS,
        )

    def _connect(self, parameters: Any, opened: Callable[[Any], None]) -> None:
        self._connection = AsyncioConnection(
            parameters,
            on_open_callback=opened,
            on_open_error_callback=lambda _, error: self._fail(f"cannot connect: {error}"),
            on_close_callback=self._on_connection_closed,
            custom_ioloop=asyncio.get_running_loop(),
        )

    async def _step(self, start: Callable[[Callable[[Any], None]], Any], seconds: float) -> Any:
        """Start an operation that calls back once done; its result, or PublishFailed when
        the connection or channel closes first or it takes longer than `seconds`."""
        if self._failure is not None:
            raise self._failure
        waiting: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting = waiting

        def done(result: Any) -> None:
            if not waiting.done():
                waiting.set_result(result)

        try:
            start(done)
            async with asyncio.timeout(seconds):
                return await waiting
        except TimeoutError:
            raise PublishFailed(f"RabbitMQ did not answer within {seconds:g} s") from None
        except pika.exceptions.AMQPError as error:
            raise PublishFailed(f"{type(error).__name__}: {error}") from error
        finally:
            self._waiting = None

    async def publish(self, rows: Sequence[asyncpg.Record]) -> None:
        """Publish the events in order on the one channel, and return once the broker
        confirmed every one of them; raise PublishFailed otherwise. Not mandatory: an event
        no queue is bound for is dropped by the broker, as a topic exchange does with any
        message."""
        channel = self._channel
        assert channel is not None, "opened"

        def send(done: Callable[[Any], None]) -> None:
            for row in rows:
                channel.basic_publish(
                    self._exchange,
                    row["type"],
                    event_json(row),
                    pika.BasicProperties(
                        content_type=CONTENT_TYPE,
                        delivery_mode=PERSISTENT,
                        message_id=row["id"],
                    ),
                )
                self._sent += 1
                self._unconfirmed.add(self._sent)
            self._confirmed = done

        try:
            await self._step(send, CONFIRM_TIMEOUT_SECONDS)
        finally:
            self._confirmed = None

    def _on_confirmation(self, frame: Any) -> None:
        method = frame.method
        if isinstance(method, Basic.Nack):
            self._fail(f"the broker refused event {method.delivery_tag} of the batch")
            return
        tag = method.delivery_tag
        if method.multiple:
            self._unconfirmed = {sent for sent in self._unconfirmed if sent > tag}
        else:
            self._unconfirmed.discard(tag)
        if not self._unconfirmed and self._confirmed is not None:
            self._confirmed(None)

    def _on_channel_closed(self, _: Channel, reason: Exception) -> None:
        self._fail(f"channel closed: {reason}")

    def _on_connection_closed(self, _: Any, reason: Exception) -> None:
        self._fail(f"connection closed: {reason}")
        if not self._closed.done():
            self._closed.set_result(None)

    def _fail(self, why: str) -> None:
        if self._failure is None:
            self._failure = PublishFailed(why)
        waiting = self._waiting
        if waiting is not None and not waiting.done():
            waiting.set_exception(self._failure)

    async def close(self) -> None:
        """Close, giving up after a moment on a broker that does not answer: nothing published
        on it is counted as done unless it was confirmed already."""
        connection = self._connection
        if connection is None or connection.is_closed or self._closed.done():
            return
        with contextlib.suppress(pika.exceptions.AMQPError):
            connection.close()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(CLOSE_TIMEOUT_SECONDS):
                await self._closed
