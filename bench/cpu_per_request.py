"""CPU per request, in-process: what the service's own Python spends on a GET by id or a page.

wrk measures what a client sees, on a machine shared with PostgreSQL and the load generator,
and moves by ±25 % between runs. This measures one thing: the CPU time of the service's
Python per request, calling the ASGI application directly (no HTTP server, no client
sockets), 16 requests at a time against a real PostgreSQL, in alternating rounds. It
compares three handlers of the same request, a GET by id (`by_id`, the default), the first
page of 50 users (`list`, as bench/wrk/list.lua asks for it) or a GET of an organization by id
(`org_by_id`: the second resource, which should cost what the first does):

- bare: an asyncpg pool (no reset query), one fetch, orjson, one send: about the least a
  Python handler can do (without the page's cursor);
- hot path: the service's HotReads layer alone (api/hot_paths.py);
- whole stack: the application as `serve` runs it (request context, metrics, access log,
  API-key check, hot path, FastAPI behind them), built by create_app.

Run: .venv/bin/python bench/cpu_per_request.py [by_id|list|org_by_id] (after `make bench` has
installed
the extras).
DATABASE_URL names a server for the throw-away database; an embedded PostgreSQL without it.
"""

import asyncio
import io
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness.config import SEEDED_ORGANIZATIONS, SEEDED_USERS
from bench.harness.database import libpq_dsn, provision
from bench.harness.servers import prepare_service

ROUNDS = 5
REQUESTS_PER_ROUND = 4000
CONCURRENCY = 16
_BY_ID = "SELECT id, email, username, created_at, updated_at, version FROM users WHERE id = $1"
_ORGANIZATION_BY_ID = (
    "SELECT id, slug, name, created_at, updated_at, version FROM organizations WHERE id = $1"
)
_PAGE = (
    "SELECT id, email, username, created_at, updated_at, version FROM users ORDER BY id LIMIT 51"
)
_PAGE_SIZE = 50

Handler = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


async def _measure(url: str, api_key: str, scenario: str) -> dict[str, list[float]]:
    # Imported only now: the metrics module reads PROMETHEUS_MULTIPROC_DIR when imported.
    import asyncpg
    import orjson

    from db_postgres_service.api.hot_paths import HotPages, HotReads
    from db_postgres_service.api.route_table import RouteTable
    from db_postgres_service.core.config import Settings
    from db_postgres_service.core.logging import configure_logging
    from db_postgres_service.main import create_app
    from db_postgres_service.organizations.routes import ORGANIZATIONS
    from db_postgres_service.users.routes import USERS

    app = create_app(Settings(database_url=url, log_level="INFO", log_format="json"))
    async with app.router.lifespan_context(app):
        # The access log is on, as in production, but written to memory, not the terminal.
        configure_logging("INFO", "json", stream=io.StringIO())
        # No reset query on release, as the service's own statement pool.
        bare_pool = await asyncpg.create_pool(
            libpq_dsn(url), min_size=4, max_size=16, reset=_keep_session
        )
        authorization = f"Bearer {api_key}".encode()

        by_id_sql = _ORGANIZATION_BY_ID if scenario == "org_by_id" else _BY_ID

        async def bare_by_id(scope: dict[str, Any], receive: Any, send: Any) -> None:
            row_id = int(scope["path"].rsplit("/", 1)[1])
            async with bare_pool.acquire() as connection:
                row = await connection.fetchrow(by_id_sql, row_id)
            await respond(send, orjson.dumps(dict(row), option=orjson.OPT_UTC_Z))

        async def bare_page(scope: dict[str, Any], receive: Any, send: Any) -> None:
            async with bare_pool.acquire() as connection:
                rows = await connection.fetch(_PAGE)
            items = [dict(row) for row in rows[:_PAGE_SIZE]]
            page = {"items": items, "next_cursor": None}
            await respond(send, orjson.dumps(page, option=orjson.OPT_UTC_Z))

        async def respond(send: Any, body: bytes) -> None:
            headers = [(b"content-type", b"application/json")]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        routes = RouteTable(app.routes)
        hot = (
            HotPages(app, USERS.hot_pages)
            if scenario == "list"
            else HotReads(
                app, ORGANIZATIONS.hot_reads if scenario == "org_by_id" else USERS.hot_reads
            )
        )

        async def hot_path_alone(scope: Any, receive: Any, send: Any) -> None:
            # The match the authentication layer makes in front of the fast lane.
            routes.match(scope)
            await hot(scope, receive, send)

        handlers: dict[str, Handler] = {
            "bare asyncpg handler": bare_page if scenario == "list" else bare_by_id,
            "hot path alone": hot_path_alone,
            "whole stack": app,
        }
        results: dict[str, list[float]] = {name: [] for name in handlers}

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start" and message["status"] != 200:
                raise RuntimeError(f"answered {message['status']}")

        def path() -> str:
            if scenario == "list":
                return "/api/v1/users"
            if scenario == "org_by_id":
                return f"/api/v1/organizations/{random.randint(1, SEEDED_ORGANIZATIONS)}"  # noqa: S311
            return f"/api/v1/users/{random.randint(1, SEEDED_USERS)}"  # noqa: S311  # load, not secrets

        async def one(handler: Handler) -> None:
            scope = {
                "type": "http",
                "method": "GET",
                "path": path(),
                "query_string": b"limit=50" if scenario == "list" else b"",
                "root_path": "",
                "headers": [(b"host", b"bench"), (b"authorization", authorization)],
                "app": app,
                "state": {"request_id": "bench"},
            }
            await handler(scope, receive, send)

        for round_number in range(ROUNDS + 1):
            for name, handler in handlers.items():
                started = time.process_time()
                for _ in range(REQUESTS_PER_ROUND // CONCURRENCY):
                    await asyncio.gather(*(one(handler) for _ in range(CONCURRENCY)))
                if round_number:  # the first round only warms up
                    used = time.process_time() - started
                    results[name].append(used / REQUESTS_PER_ROUND * 1e6)
        await bare_pool.close()
    return results


async def _keep_session(connection: Any) -> None:
    """Nothing to reset after a single SELECT."""


def main() -> int:
    import uvloop

    scenario = sys.argv[1] if len(sys.argv) > 1 else "by_id"
    if scenario not in ("by_id", "list", "org_by_id"):
        print("usage: cpu_per_request.py [by_id|list|org_by_id]", file=sys.stderr)
        return 2
    with provision(os.environ.get("DATABASE_URL")) as databases:
        url = databases.service
        api_key = prepare_service(url)
        with tempfile.TemporaryDirectory(prefix="dps-bench-metrics-") as metrics:
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics
            results = uvloop.run(_measure(url, api_key, scenario))
    request = {"list": "page of 50", "org_by_id": "GET organization by id"}.get(
        scenario, "GET by id"
    )
    print(f"CPU per {request}, in-process, {CONCURRENCY} at a time, median of {ROUNDS} rounds:")
    for name, samples in results.items():
        spread = f"{min(samples):.0f}-{max(samples):.0f}"
        print(f"  {name:22} {statistics.median(samples):6.0f} us   (rounds: {spread} us)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
