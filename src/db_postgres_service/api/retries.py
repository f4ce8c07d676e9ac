"""Transactions that collided with others are run again before the caller hears of it.

PostgreSQL ends a transaction that lost a serialization conflict or a deadlock and asks the
client to run it again; the client here is the service. A request whose transaction collided
runs again, up to ATTEMPTS times with a short random pause, and only then answers 503. Each run
is its own transaction, and the one that failed was rolled back whole, so a run again is safe.
"""

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from db_postgres_service.api.metrics import record_database_error
from db_postgres_service.api.problems import database_problem, send_problem
from db_postgres_service.core.db_errors import TransactionCollided, collided

ATTEMPTS = 3
# The pause before run n is up to n times this: colliding transactions start apart again.
PAUSE_SECONDS = 0.01
Result = TypeVar("Result")


async def pause(attempt: int) -> None:
    await asyncio.sleep(random.uniform(0, PAUSE_SECONDS * attempt))  # noqa: S311 - not a secret


async def with_retries(run: Callable[[], Awaitable[Result]]) -> Result:
    """`run()`, run again while its transaction collides, up to ATTEMPTS times in all."""
    for attempt in range(1, ATTEMPTS):
        try:
            return await run()
        except Exception as error:
            if not collided(error):
                raise
            record_database_error(error)
        await pause(attempt)
    return await run()


class RetryCollisions:
    """Runs a request again when its transaction collided (TransactionCollided), replaying the
    body it had read. Sits inside FastAPI's outermost layer and outside its exception layer,
    whose database-error handler raises TransactionCollided instead of answering."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        read: list[Message] = []

        async def recording() -> Message:
            message = await receive()
            read.append(message)
            return message

        attempt = 1
        while True:
            try:
                await self.app(scope, recording if attempt == 1 else _replay(read, receive), send)
                return
            except TransactionCollided as collision:
                if attempt == ATTEMPTS:
                    problem = database_problem(collision.error)
                    assert problem is not None, "a collision maps to 503"
                    await send_problem(send, problem, scope["state"]["request_id"])
                    return
                record_database_error(collision.error)
            await pause(attempt)
            attempt += 1


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """The body messages already read, then the connection's own events."""
    pending = list(messages)

    async def replay() -> Message:
        return pending.pop(0) if pending else await receive()

    return replay
