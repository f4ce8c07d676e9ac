"""The `relay` command's process: the relay's loop and its health server on one event loop,
until SIGTERM or SIGINT."""

import asyncio
import contextlib
import logging
import signal

from db_postgres_service.core.config import Settings
from db_postgres_service.relay.health import HealthServer
from db_postgres_service.relay.loop import Relay

logger = logging.getLogger(__name__)
# pika tells of every connection and channel it opens at INFO; the relay logs its own line.
logging.getLogger("pika").setLevel(logging.WARNING)


async def run_relay(settings: Settings, host: str) -> None:
    """Relay until asked to stop. Stopping abandons the batch in flight, whose position is
    then not recorded (the next relay publishes it again), and closes every connection."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    relaying = asyncio.create_task(Relay(settings).run())
    health = HealthServer(host, settings.relay_port, running=lambda: not relaying.done())
    try:
        await health.start()
        logger.info(
            "relay health and metrics on http://%s:%s",
            host,
            settings.relay_port,
            extra={"event": "relay_serve", "address": f"{host}:{settings.relay_port}"},
        )
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait({relaying, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
    finally:
        relaying.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await relaying
        await health.stop()
    logger.info("relay stopped", extra={"event": "relay_stop", "exchange": settings.relay_exchange})
