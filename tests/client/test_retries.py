"""Retries that are safe: a create whose answer was lost is sent again under the same
Idempotency-Key and makes one row; a write without a condition is never sent twice; an
unavailable database is waited out within the retries, and reported once they run out."""

import asyncio
import itertools
import time

import httpx
import pytest
from fastapi import FastAPI

from db_postgres_service_client import (
    AsyncClient,
    NotFound,
    PreconditionFailed,
    Unavailable,
)

from ..helpers import ARGON2_HASH, TEST_API_KEY, Database
from ..test_faults import Cluster, database_down, new_user

# The module's own throw-away PostgreSQL, to stop and start.
from ..test_faults import cluster as cluster
from ..test_faults import serving as serving_app
from .conftest import in_process


class LosingAnswers(httpx.AsyncBaseTransport):
    """Forwards every request to the app, then loses the answer of the first `losses` that
    `method` sends: the server did the work, the caller never hears of it."""

    def __init__(self, app: FastAPI, method: str, losses: int = 1) -> None:
        self.inner = httpx.ASGITransport(app=app)
        self.method = method
        self.losses = losses
        self.sent: list[httpx.Request] = []
        self.answers: list[httpx.Response] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        response = await self.inner.handle_async_request(request)
        await response.aread()
        if request.method == self.method and self.losses > 0:
            self.losses -= 1
            raise httpx.ReadError("the connection dropped before the answer", request=request)
        self.answers.append(response)
        return response


async def test_a_create_whose_answer_was_lost_is_retried_and_makes_one_row(
    app: FastAPI, db: Database
) -> None:
    transport = LosingAnswers(app, "POST")
    async with in_process(app, transport) as client:
        alice = await client.users.create(
            email="alice@example.com", username="alice", password="correct horse"
        )

    assert len(transport.sent) == 2
    assert len({request.headers["idempotency-key"] for request in transport.sent}) == 1
    assert transport.answers[-1].headers["idempotent-replayed"] == "true"
    assert await db.rows("SELECT id, username FROM users") == [
        {"id": alice.id, "username": "alice"}
    ]


async def test_a_batch_whose_answer_was_lost_is_retried_and_makes_its_rows_once(
    app: FastAPI, db: Database
) -> None:
    transport = LosingAnswers(app, "POST", losses=2)
    items = [
        {"email": f"u{n}@example.com", "username": f"user{n}", "password_hash": ARGON2_HASH}
        for n in range(3)
    ]
    async with in_process(app, transport) as client:
        created = await client.users.create_many(items)

    assert len(transport.sent) == 3
    assert len({request.headers["idempotency-key"] for request in transport.sent}) == 1
    assert await db.scalar("SELECT count(*) FROM users") == 3
    assert [user.username for user in created] == ["user0", "user1", "user2"]


async def test_a_write_without_a_condition_is_not_sent_twice(app: FastAPI, db: Database) -> None:
    async with in_process(app) as client:
        alice = await client.users.create(
            email="alice@example.com", username="alice", password="correct horse"
        )
    transport = LosingAnswers(app, "PATCH")
    async with in_process(app, transport) as client:
        with pytest.raises(httpx.ReadError):
            await client.users.update(alice.id, username="alicia")

    assert len(transport.sent) == 1
    assert await db.scalar("SELECT version FROM users") == 2


async def test_a_conditional_write_whose_answer_was_lost_is_sent_again(app: FastAPI) -> None:
    async with in_process(app) as client:
        alice = await client.users.create(
            email="alice@example.com", username="alice", password="correct horse"
        )
    transport = LosingAnswers(app, "PATCH")
    async with in_process(app, transport) as client:
        # The retry meets the change its first attempt made: what CLIENT.md's rule implies.
        with pytest.raises(PreconditionFailed):
            await client.users.update(alice, username="alicia")

    assert len(transport.sent) == 2


async def test_the_callers_request_id_is_sent_and_every_error_carries_the_servers(
    dps: AsyncClient,
) -> None:
    with pytest.raises(NotFound) as raised:
        await dps.users.get(404, request_id="trace-42")
    with pytest.raises(NotFound) as insane:
        await dps.users.get(404, request_id="not a sane id")

    assert raised.value.request_id == "trace-42"
    assert insane.value.request_id not in (None, "", "not a sane id")


def counting(app: FastAPI, sent: list[float], answers: list[httpx.Response]) -> httpx.AsyncClient:
    async def sending(_: httpx.Request) -> None:
        sent.append(time.monotonic())

    async def answered(response: httpx.Response) -> None:
        answers.append(response)

    hooks = {"request": [sending], "response": [answered]}
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), event_hooks=hooks)


async def test_a_stopped_database_is_unavailable_after_the_retries(cluster: Cluster) -> None:
    sent: list[float] = []
    answers: list[httpx.Response] = []
    async with serving_app(cluster.url) as (app, http):
        user = await new_user(http, "unavailable")
        client = AsyncClient(
            "http://testserver",
            TEST_API_KEY,
            max_retries=2,
            http_client=counting(app, sent, answers),
        )
        with database_down(cluster.server), pytest.raises(Unavailable) as raised:
            await client.users.get(user["id"])

    waits = [float(answer.headers["retry-after"]) for answer in answers]
    assert raised.value.status == 503
    assert raised.value.retry_after == waits[-1] >= 1
    assert raised.value.request_id == answers[-1].headers["x-request-id"]
    # The first attempt and two retries, each after the Retry-After of the answer before.
    assert len(sent) == len(answers) == 3
    gaps = [later - earlier for earlier, later in itertools.pairwise(sent)]
    assert all(gap >= wait - 0.05 for gap, wait in zip(gaps, waits, strict=False))


async def test_a_database_back_within_the_retries_serves_the_call(cluster: Cluster) -> None:
    sent: list[float] = []
    answers: list[httpx.Response] = []
    async with serving_app(cluster.url) as (app, http):
        user = await new_user(http, "back")
        client = AsyncClient(
            "http://testserver",
            TEST_API_KEY,
            max_retries=8,
            http_client=counting(app, sent, answers),
        )
        with database_down(cluster.server):
            # Started again from this (the main) thread, as EmbeddedPostgres needs, while the
            # client waits between its attempts.
            asyncio.get_running_loop().call_later(0.5, cluster.server.start)
            served = await client.users.get(user["id"])

    assert served.id == user["id"]
    assert [answer.status_code for answer in answers][-1] == 200
    assert {answer.status_code for answer in answers[:-1]} == {503}
