"""Events to RabbitMQ: each one a persistent message on the durable topic exchange, routed by
its type, with the feed's JSON as its body, confirmed by the broker (publisher confirms)."""

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Sequence
from typing import Self

import aio_pika
import asyncpg

from db_postgres_service.events.cloudevents import CONTENT_TYPE, event_json

logger = logging.getLogger(__name__)
CONNECT_TIMEOUT_SECONDS = 10.0
# A broker that neither confirms nor refuses a batch (a resource alarm blocks publishers) is
# treated as lost: the relay starts over rather than wait forever.
CONFIRM_TIMEOUT_SECONDS = 30.0
CLOSE_TIMEOUT_SECONDS = 2.0


class PublishFailed(Exception):
    """A batch was not confirmed whole: refused (nack), or the channel or connection failed."""


def connection_name(exchange: str) -> str:
    """How operators (`rabbitmqctl list_connections client_properties`) tell relays apart."""
    return f"db-postgres-service relay to {exchange} ({socket.gethostname()} pid {os.getpid()})"


def message(row: asyncpg.Record) -> aio_pika.Message:
    return aio_pika.Message(
        event_json(row),
        content_type=CONTENT_TYPE,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        message_id=row["id"],
    )


class Publisher:
    """One connection and one channel in confirm mode. A failure leaves it unusable: the
    relay closes it and starts over from its recorded position with a new one."""

    def __init__(
        self, connection: aio_pika.abc.AbstractConnection, exchange: aio_pika.abc.AbstractExchange
    ) -> None:
        self._connection = connection
        self._exchange = exchange

    @classmethod
    async def open(cls, url: str, exchange: str) -> Self:
        connection = await aio_pika.connect(
            url,
            timeout=CONNECT_TIMEOUT_SECONDS,
            client_properties={"connection_name": connection_name(exchange)},
        )
        try:
            channel = await connection.channel(publisher_confirms=True)
            declared = await channel.declare_exchange(
                exchange, aio_pika.ExchangeType.TOPIC, durable=True
            )
        except BaseException:
            await _close(connection)
            raise
        logger.info(
            "connected to RabbitMQ, publishing to exchange %s",
            exchange,
            extra={"event": "relay_broker_connected", "exchange": exchange},
        )
        return cls(connection, declared)

    async def publish(self, rows: Sequence[asyncpg.Record]) -> None:
        """Publish the events pipelined on the one channel, in order, and return once the
        broker confirmed every one of them; raise PublishFailed otherwise.

        The publishes start in the rows' order and take the channel's lock in that order
        (asyncio's lock is first come, first served), so the broker receives them in feed
        order. Not mandatory: an event no queue is bound for is dropped by the broker, as a
        topic exchange does with any message.
        """
        try:
            async with asyncio.timeout(CONFIRM_TIMEOUT_SECONDS), asyncio.TaskGroup() as group:
                for row in rows:
                    group.create_task(
                        self._exchange.publish(message(row), row["type"], mandatory=False)
                    )
        except TimeoutError:
            raise PublishFailed(
                f"the broker confirmed no batch within {CONFIRM_TIMEOUT_SECONDS:g} s"
            ) from None
        except ExceptionGroup as failed:
            first = failed.exceptions[0]
            raise PublishFailed(f"{type(first).__name__}: {first}") from failed

    async def close(self) -> None:
        await _close(self._connection)


async def _close(connection: aio_pika.abc.AbstractConnection) -> None:
    """Close, giving up after a moment on a broker that does not answer: nothing published on
    it is counted as done unless it was confirmed already."""
    with contextlib.suppress(Exception):
        async with asyncio.timeout(CLOSE_TIMEOUT_SECONDS):
            await connection.close()
