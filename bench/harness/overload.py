"""The service far past what it can serve, and right after: does it refuse cleanly, stay
reachable for its probes, leave no connection unanswered, and recover at once?

wrk GET by id at OVERLOAD_CONNECTIONS for BENCH_OVERLOAD_SECONDS (overload.lua tallies the
statuses and the 503s with Retry-After) while a thread opens a new connection for
`GET /health` every PROBE_INTERVAL_SECONDS; then at once GET by id at RECOVERY_CONNECTIONS for
BENCH_DURATION, to compare with the same run measured just before the flood.
"""

import socket
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from bench.harness.load import WrkResult, run_wrk
from bench.harness.servers import Target

OVERLOAD_CONNECTIONS = 1024
RECOVERY_CONNECTIONS = 64
PROBE_PATH = "/health"
PROBE_INTERVAL_SECONDS = 0.5
PROBE_TIMEOUT_SECONDS = 1.0
# The target: every probe answered 200 within this, however loaded the service is.
HEALTH_PROBE_MAX_MS = 100.0


@dataclass(frozen=True)
class Probe:
    """One `GET /health` on a new connection: its status (None when it failed) and time."""

    elapsed_ms: float
    status: int | None
    error: str | None


@dataclass
class HealthProber:
    """A thread probing the target's liveness route until stopped; each probe opens a new
    connection, as a load balancer's or orchestrator's health check does."""

    host: str
    port: int
    path: str
    probes: list[Probe] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="health-prober", daemon=True)
        self._thread.start()

    def stop(self) -> list[Probe]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        return self.probes

    def _run(self) -> None:
        tick = time.monotonic()
        while not self._stop.is_set():
            self.probes.append(self._probe())
            tick += PROBE_INTERVAL_SECONDS
            self._stop.wait(max(0.0, tick - time.monotonic()))

    def _probe(self) -> Probe:
        """One request on a new connection over a plain socket, timed from connect to the
        end of the answer. An HTTP client object per probe (httpx builds an SSL context)
        costs 20-40 ms of CPU before it sends a byte, which the flood on this machine's two
        cores stretched to hundreds of ms: that measured the prober, not the service."""
        started = time.perf_counter()
        try:
            status = _get_status(self.host, self.port, self.path)
        except (OSError, ValueError) as error:
            elapsed_ms = (time.perf_counter() - started) * 1000
            return Probe(round(elapsed_ms, 2), None, type(error).__name__)
        elapsed_ms = (time.perf_counter() - started) * 1000
        return Probe(round(elapsed_ms, 2), status, None)


def _get_status(host: str, port: int, path: str) -> int:
    """The status of `GET path` on a new connection that the server closes after answering."""
    request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode()
    with socket.create_connection((host, port), timeout=PROBE_TIMEOUT_SECONDS) as connection:
        connection.sendall(request)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    status_line = answer.split(b"\r\n", 1)[0].split()
    if len(status_line) < 2 or not status_line[1].isdigit():
        raise ValueError(f"not an HTTP answer: {answer[:80]!r}")
    return int(status_line[1])


@dataclass(frozen=True)
class OverloadResult:
    seconds: int
    before: WrkResult
    load: WrkResult
    probes: list[Probe]
    recovery: WrkResult

    def probes_over(self, limit_ms: float) -> int:
        return sum(1 for probe in self.probes if probe.elapsed_ms > limit_ms)

    @property
    def probe_failures(self) -> int:
        """Probes that got no answer or an answer other than 200."""
        return sum(1 for probe in self.probes if probe.status != httpx.codes.OK)

    @property
    def probe_max_ms(self) -> float | None:
        return max((probe.elapsed_ms for probe in self.probes), default=None)

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
    address = urlsplit(target.base_url)
    prober = HealthProber(address.hostname or "127.0.0.1", address.port or 80, PROBE_PATH)
    prober.start()
    try:
        load = run_wrk(target, "overload", OVERLOAD_CONNECTIONS, seconds, threads, shared_port=True)
    finally:
        probes = prober.stop()
    recovery = run_wrk(target, "by_id", RECOVERY_CONNECTIONS, recovery_seconds, threads)
    return OverloadResult(seconds, before, load, probes, recovery)
