"""CPU per call of the Python client, in-process: `client.users.get(id)` against a bare
`httpx.Client.get` of the same URL, on the same httpx client.

Both go through one httpx.MockTransport that answers every request at once with the same
user, as the service answers a GET by id: so the figure is what the client's own Python
costs a caller on top of httpx (building the request, the retry loop, checking the status,
the pydantic model), without the network, the service or PostgreSQL. Rounds alternate between
the two; each side is judged on its median round.
"""

import gc
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from db_postgres_service_client import Client

ROUNDS = 7
CALLS_PER_ROUND = 5000
_BASE_URL = "http://service"
_USER = orjson.dumps(
    {
        "id": 42,
        "email": "alice@example.com",
        "username": "alice",
        "created_at": "2026-11-26T03:00:00.123456Z",
        "updated_at": "2026-11-26T03:00:00.123456Z",
        "version": 1,
    }
)
_ANSWER_HEADERS = {"content-type": "application/json", "etag": '"1"', "x-request-id": "r"}


@dataclass(frozen=True)
class ClientCpuResult:
    """CPU microseconds per call, one figure per round."""

    bare_us: tuple[float, ...]
    client_us: tuple[float, ...]

    @property
    def bare_median_us(self) -> float:
        return statistics.median(self.bare_us)

    @property
    def client_median_us(self) -> float:
        return statistics.median(self.client_us)

    @property
    def ratio(self) -> float:
        return self.client_median_us / self.bare_median_us

    def as_json(self) -> dict[str, Any]:
        return {
            "bare_us": [round(value, 1) for value in self.bare_us],
            "client_us": [round(value, 1) for value in self.client_us],
            "ratio": round(self.ratio, 3),
        }


def _answer(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, content=_USER, headers=_ANSWER_HEADERS)


def _cpu_per_call(call: Callable[[], object]) -> float:
    gc.collect()
    started = time.process_time()
    for _ in range(CALLS_PER_ROUND):
        call()
    return (time.process_time() - started) / CALLS_PER_ROUND * 1e6


def measure_client_cpu() -> ClientCpuResult:
    http = httpx.Client(
        transport=httpx.MockTransport(_answer),
        headers={"Authorization": "Bearer dps_bench"},
    )
    client = Client(_BASE_URL, "dps_bench", http_client=http)
    url = f"{_BASE_URL}/api/v1/users/42"
    if not client.users.get(42).id == http.get(url).json()["id"] == 42:
        raise RuntimeError("the client and the bare call read different users")
    bare: list[float] = []
    wrapped: list[float] = []
    for _ in range(ROUNDS):
        bare.append(_cpu_per_call(lambda: http.get(url)))
        wrapped.append(_cpu_per_call(lambda: client.users.get(42)))
    return ClientCpuResult(tuple(bare), tuple(wrapped))
