"""The relay's /health and /metrics, on RELAY_PORT: a Starlette app that uvicorn serves on
the relay's own event loop, so that /health answering also says the loop is not stuck."""

import asyncio
import contextlib
from collections.abc import Callable, Iterator

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


def health_app(running: Callable[[], bool]) -> Starlette:
    async def health(_: Request) -> Response:
        if running():
            return JSONResponse({"status": "ok"})
        return JSONResponse({"status": "stopped"}, status_code=503)

    async def metrics(_: Request) -> Response:
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    return Starlette(routes=[Route("/health", health), Route("/metrics", metrics)])


class _EmbeddedServer(uvicorn.Server):
    """uvicorn without its own signal handlers: the relay stops on SIGTERM and SIGINT itself,
    and stops this server last."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class HealthServer:
    def __init__(self, host: str, port: int, running: Callable[[], bool]) -> None:
        config = uvicorn.Config(
            health_app(running),
            host=host,
            port=port,
            lifespan="off",
            access_log=False,
            # Its lines go through the service's logging (core/logging.py); only problems.
            log_config=None,
            log_level="warning",
        )
        self._server = _EmbeddedServer(config)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Serve from now on; raises what stopped uvicorn from listening (a port in use)."""
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            if self._task.done():
                await self._task
                raise RuntimeError("the health server stopped before it listened")
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        if self._task is not None:
            self._server.should_exit = True
            await self._task
