"""CPU per call of the Python client, in-process: `client.users.get(id)` against a bare
`httpx.Client.get` of the same URL, on the same httpx client.

Both go through one httpx.MockTransport that answers every request at once with the same
user, as the service answers a GET by id: so the figure is what the client's own Python
costs a caller on top of httpx (building the request, the retry loop, checking the status,
the pydantic model), without the network, the service or PostgreSQL. Alternating rounds; the
median of each side is printed, and their ratio (issue 20's target: at most 1.5).

Run: .venv/bin/python bench/cpu_per_client_call.py (after `make test` or `make bench` has
installed the client).
"""

import gc
import statistics
import time
from collections.abc import Callable

import httpx
import orjson

from db_postgres_service_client import Client

ROUNDS = 7
CALLS_PER_ROUND = 5000
BASE_URL = "http://service"
USER = orjson.dumps(
    {
        "id": 42,
        "email": "alice@example.com",
        "username": "alice",
        "created_at": "2026-11-26T03:00:00.123456Z",
        "updated_at": "2026-11-26T03:00:00.123456Z",
        "version": 1,
    }
)
ANSWER_HEADERS = {"content-type": "application/json", "etag": '"1"', "x-request-id": "r"}


def _answer(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, content=USER, headers=ANSWER_HEADERS)


def _cpu_per_call(call: Callable[[], object]) -> float:
    """CPU microseconds per call of `call`, over one round."""
    gc.collect()
    started = time.process_time()
    for _ in range(CALLS_PER_ROUND):
        call()
    return (time.process_time() - started) / CALLS_PER_ROUND * 1e6


def main() -> None:
    http = httpx.Client(
        transport=httpx.MockTransport(_answer),
        headers={"Authorization": "Bearer dps_bench"},
    )
    client = Client(BASE_URL, "dps_bench", http_client=http)
    url = f"{BASE_URL}/api/v1/users/42"
    assert client.users.get(42).id == http.get(url).json()["id"] == 42

    bare: list[float] = []
    wrapped: list[float] = []
    for _ in range(ROUNDS):
        bare.append(_cpu_per_call(lambda: http.get(url)))
        wrapped.append(_cpu_per_call(lambda: client.users.get(42)))
    bare_median, client_median = statistics.median(bare), statistics.median(wrapped)
    print(
        f"bare httpx.Client.get:   {bare_median:7.1f} us CPU per call (rounds: "
        + ", ".join(f"{value:.1f}" for value in bare)
        + ")"
    )
    print(
        f"client.users.get(id):    {client_median:7.1f} us CPU per call (rounds: "
        + ", ".join(f"{value:.1f}" for value in wrapped)
        + ")"
    )
    print(f"ratio: {client_median / bare_median:.2f}x (target <= 1.5x)")


if __name__ == "__main__":
    main()
