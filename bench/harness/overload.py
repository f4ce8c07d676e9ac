"""The service far past what it can serve, and right after: does it refuse cleanly, stay
reachable for its probes, leave no connection unanswered, and recover at once?

wrk GET by id at OVERLOAD_CONNECTIONS for BENCH_OVERLOAD_SECONDS (overload.lua tallies the
statuses and the 503s with Retry-After) while a process of its own (bench.harness.prober)
opens a new connection for `GET /health` every half second, and one to an idle server for
comparison; then at once GET by id at RECOVERY_CONNECTIONS for
BENCH_DURATION, to compare with the same run measured just before the flood.
"""

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

import httpx

from bench.harness.config import REPO_DIR
from bench.harness.load import WrkResult, run_wrk
from bench.harness.ports import free_port
from bench.harness.servers import Target

OVERLOAD_CONNECTIONS = 1024
RECOVERY_CONNECTIONS = 64
PROBE_PATH = "/health"
# The target: every probe answered 200 within this, however loaded the service is.
HEALTH_PROBE_MAX_MS = 100.0
IDLE_SERVER_START_SECONDS = 5.0


@dataclass(frozen=True)
class Probe:
    """One `GET` on a new connection: its status (None when it failed) and time."""

    elapsed_ms: float
    status: int | None
    error: str | None


@dataclass(frozen=True)
class Probes:
    """What the prober process saw: the service's liveness route and the idle server, probed
    one after the other every tick, and whether it ran with real-time scheduling."""

    scheduling: str
    service: list[Probe]
    idle_server: list[Probe]


@contextmanager
def _idle_server() -> Iterator[str]:
    """An HTTP server that only answers 200, in its own process at normal priority."""
    port = free_port()
    command = [sys.executable, "-m", "bench.harness.idle_server", str(port)]
    server = subprocess.Popen(command, cwd=REPO_DIR)  # noqa: S603 - our own module
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + IDLE_SERVER_START_SECONDS
        while True:
            try:
                httpx.get(url, timeout=1.0)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield url
    finally:
        server.terminate()
        server.wait()


@contextmanager
def probing(service_url: str) -> Iterator[list[Probes]]:
    """`bench.harness.prober` on the service's liveness route and on an idle server while
    the block runs; the list it yields holds their Probes once the block has ended."""
    collected: list[Probes] = []
    with _idle_server() as idle_url:
        command = [sys.executable, "-m", "bench.harness.prober", service_url, idle_url]
        prober = subprocess.Popen(  # noqa: S603 - our own module
            command, cwd=REPO_DIR, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        try:
            yield collected
        finally:
            output, _ = prober.communicate(input="", timeout=30)
        collected.append(_parse_probes(output, service_url))


def _parse_probes(output: str, service_url: str) -> Probes:
    lines = [json.loads(line) for line in output.splitlines() if line.strip()]
    scheduling = next((line["scheduling"] for line in lines if "scheduling" in line), "unknown")
    service: list[Probe] = []
    idle: list[Probe] = []
    for line in lines:
        if "url" in line:
            probe = Probe(line["elapsed_ms"], line["status"], line["error"])
            (service if line["url"] == service_url else idle).append(probe)
    return Probes(scheduling, service, idle)


def _max_ms(probes: list[Probe]) -> float | None:
    return max((probe.elapsed_ms for probe in probes), default=None)


@dataclass(frozen=True)
class OverloadResult:
    seconds: int
    before: WrkResult
    load: WrkResult
    probes: list[Probe]
    idle_probes: list[Probe]
    prober_scheduling: str
    recovery: WrkResult

    def probes_over(self, limit_ms: float) -> int:
        return sum(1 for probe in self.probes if probe.elapsed_ms > limit_ms)

    @property
    def probe_failures(self) -> int:
        """Probes that got no answer or an answer other than 200."""
        return sum(1 for probe in self.probes if probe.status != httpx.codes.OK)

    @property
    def probe_max_ms(self) -> float | None:
        return _max_ms(self.probes)

    @property
    def idle_probe_max_ms(self) -> float | None:
        return _max_ms(self.idle_probes)

    def as_json(self) -> dict[str, Any]:
        return {
            "seconds": self.seconds,
            "before": self.before.as_json(),
            "load": self.load.as_json(),
            "probes": [asdict(probe) for probe in self.probes],
            "probe_max_ms": self.probe_max_ms,
            "probe_limit_ms": HEALTH_PROBE_MAX_MS,
            "probes_over_limit": self.probes_over(HEALTH_PROBE_MAX_MS),
            "probe_failures": self.probe_failures,
            "prober_scheduling": self.prober_scheduling,
            "idle_probes": [asdict(probe) for probe in self.idle_probes],
            "idle_probe_max_ms": self.idle_probe_max_ms,
            "recovery": self.recovery.as_json(),
        }


def run_overload(
    target: Target, seconds: int, recovery_seconds: int, threads: int
) -> OverloadResult:
    """GET by id at RECOVERY_CONNECTIONS, the overload run with the health prober beside it,
    then the same GET by id run again at once. The recovery is compared with the run just
    before the flood, not with one measured many minutes earlier: on this shared machine
    runs of the same scenario spread by a third within minutes."""
    before = run_wrk(target, "by_id", RECOVERY_CONNECTIONS, recovery_seconds, threads)
    with probing(target.base_url + PROBE_PATH) as collected:
        load = run_wrk(target, "overload", OVERLOAD_CONNECTIONS, seconds, threads, shared_port=True)
    probes = collected[0]
    recovery = run_wrk(target, "by_id", RECOVERY_CONNECTIONS, recovery_seconds, threads)
    return OverloadResult(
        seconds, before, load, probes.service, probes.idle_server, probes.scheduling, recovery
    )
