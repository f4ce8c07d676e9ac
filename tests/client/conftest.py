"""Fixtures of the client's tests: the client on the in-process app (with its throw-away
database, emptied before each test) and on a served process of the suite's database."""

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import httpx
import pytest
from fastapi import FastAPI

from db_postgres_service_client import AsyncClient, Client

from ..helpers import TEST_API_KEY
from ..serving import Service, serving

BASE_URL = "http://testserver"


@asynccontextmanager
async def in_process(
    app: FastAPI,
    transport: httpx.AsyncBaseTransport | None = None,
    *,
    key: str = TEST_API_KEY,
    max_retries: int = 3,
) -> AsyncIterator[AsyncClient]:
    """An AsyncClient of `app` holding `key`, through `transport` (by default straight to the
    app)."""
    async with httpx.AsyncClient(transport=transport or httpx.ASGITransport(app=app)) as http:
        yield AsyncClient(BASE_URL, key, max_retries=max_retries, http_client=http)


@pytest.fixture
async def dps(app: FastAPI) -> AsyncIterator[AsyncClient]:
    async with in_process(app) as client:
        yield client


@pytest.fixture(scope="module")
def served(database_url: str) -> Iterator[Service]:
    """`serve` on the suite's database (whose rows other tests leave or empty meanwhile)."""
    with serving(database_url, WEB_CONCURRENCY="1") as service:
        yield service


@pytest.fixture
def sync_dps(served: Service) -> Iterator[Client]:
    with Client(served.base_url, TEST_API_KEY) as client:
        yield client
