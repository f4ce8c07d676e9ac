"""CPU per write, in-process: what the service's own Python spends on the writes that run a
transaction of several statements, through the whole stack as `serve` builds it.

Calls the ASGI application directly (no HTTP server, no client sockets), 16 requests at a
time against a real PostgreSQL, in rounds after a warm-up round:

- create with an Idempotency-Key (advisory lock, lookup, savepoint, insert, stored answer);
- create without one (a single INSERT, for comparison);
- a batch of 10 imported users.

Bodies import a bcrypt hash, so no password is hashed. bench/README.md records what changing
the transactions' connection style bought.

Run: .venv/bin/python bench/cpu_per_write.py (after `make bench` has installed the extras).
DATABASE_URL names a server for the throw-away database; an embedded PostgreSQL without it.
"""

import asyncio
import io
import itertools
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness.config import BCRYPT_HASH
from bench.harness.database import provision
from bench.harness.servers import prepare_service

ROUNDS = 5
REQUESTS_PER_ROUND = 800
CONCURRENCY = 16
_NUMBERS = itertools.count()


def _user(number: int) -> dict[str, str]:
    return {
        "email": f"writer{number}@example.com",
        "username": f"writer{number}",
        "password_hash": BCRYPT_HASH,
    }


def _keyed_create() -> tuple[str, dict[str, str], bytes]:
    number = next(_NUMBERS)
    return "/api/v1/users", {"idempotency-key": f"k{number}"}, orjson.dumps(_user(number))


def _plain_create() -> tuple[str, dict[str, str], bytes]:
    return "/api/v1/users", {}, orjson.dumps(_user(next(_NUMBERS)))


def _batch() -> tuple[str, dict[str, str], bytes]:
    items = [_user(next(_NUMBERS)) for _ in range(10)]
    return "/api/v1/users/batch", {}, orjson.dumps({"items": items})


SCENARIOS: dict[str, Callable[[], tuple[str, dict[str, str], bytes]]] = {
    "create with Idempotency-Key": _keyed_create,
    "create without": _plain_create,
    "batch of 10": _batch,
}


async def _measure(url: str, api_key: str) -> dict[str, list[float]]:
    # Imported only now: the metrics module reads PROMETHEUS_MULTIPROC_DIR when imported.
    from db_postgres_service.core.config import Settings
    from db_postgres_service.core.logging import configure_logging
    from db_postgres_service.main import create_app

    app = create_app(Settings(database_url=url, log_level="INFO", log_format="json"))
    results: dict[str, list[float]] = {name: [] for name in SCENARIOS}
    async with app.router.lifespan_context(app):
        configure_logging("INFO", "json", stream=io.StringIO())
        authorization = f"Bearer {api_key}".encode()

        async def one(request: Callable[[], tuple[str, dict[str, str], bytes]]) -> None:
            path, extra, body = request()
            headers = [
                (b"host", b"bench"),
                (b"authorization", authorization),
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *((name.encode(), value.encode()) for name, value in extra.items()),
            ]
            scope = {
                "type": "http",
                "http_version": "1.1",
                "method": "POST",
                "scheme": "http",
                "path": path,
                "raw_path": path.encode(),
                "query_string": b"",
                "root_path": "",
                "headers": headers,
                "client": ("127.0.0.1", 1),
                "server": ("bench", 80),
                "app": app,
                "state": {},
            }
            sent = False

            async def receive() -> dict[str, Any]:
                nonlocal sent
                if sent:
                    await asyncio.sleep(3600)
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}

            async def send(message: dict[str, Any]) -> None:
                if message["type"] == "http.response.start" and message["status"] != 201:
                    raise RuntimeError(f"{path} answered {message['status']}")

            await app(scope, receive, send)

        for round_number in range(ROUNDS + 1):
            for name, request in SCENARIOS.items():
                started = time.process_time()
                for _ in range(REQUESTS_PER_ROUND // CONCURRENCY):
                    await asyncio.gather(*(one(request) for _ in range(CONCURRENCY)))
                if round_number:  # the first round only warms up
                    used = time.process_time() - started
                    results[name].append(used / REQUESTS_PER_ROUND * 1e6)
    return results


def main() -> int:
    import uvloop

    with provision(os.environ.get("DATABASE_URL")) as databases:
        url = databases.service
        api_key = prepare_service(url)
        with tempfile.TemporaryDirectory(prefix="dps-bench-metrics-") as metrics:
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics
            results = uvloop.run(_measure(url, api_key))
    print(f"CPU per write, in-process, {CONCURRENCY} at a time, median of {ROUNDS} rounds:")
    for name, samples in results.items():
        spread = f"{min(samples):.0f}-{max(samples):.0f}"
        print(f"  {name:28} {statistics.median(samples):6.0f} us   (rounds: {spread} us)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
