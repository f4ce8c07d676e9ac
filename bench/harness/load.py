"""The load generators: wrk for the HTTP scenarios, pgbench for the ceiling, httpx for batches."""

import json
import re
import shutil
import statistics
import subprocess
import time
import uuid
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from bench.harness.config import (
    BCRYPT_HASH,
    PGBENCH_SCRIPT,
    SEEDED_ORGANIZATIONS,
    SEEDED_USERS,
    WRK_DIR,
)
from bench.harness.database import pgbench_connection
from bench.harness.servers import Target
from bench.harness.sockets import ConnectionAccount, ConnectionSampler

RESULT_MARKER = "BENCH_RESULT "
INSTALL_HINTS = {
    "wrk": "apt-get install wrk",
    "pgbench": "apt-get install postgresql-client",
    "ss": "apt-get install iproute2",
}


class LoadError(RuntimeError):
    """A load generator failed or printed nothing usable."""


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise LoadError(f"{name} is not installed ({INSTALL_HINTS[name]})")
    return path


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float
    errors: int
    error_kinds: dict[str, int]
    # wrk's --connections, and what `ss` saw of them (bench/harness/sockets.py).
    connections: int
    socket_samples: int
    connections_seen: int
    connections_served: int
    connections_stalled: int
    accept_queue_max: int
    accept_queue_nonempty_samples: int
    # Only from scripts that tally responses (overload.lua): count per status code, and the
    # 503s that carried a Retry-After header.
    statuses: dict[str, int] | None = None
    retry_after_503: int | None = None

    @property
    def connections_summary(self) -> str:
        """`conns 64/64 served, queue max 0`, plus the stalled and the samples when not 0."""
        text = f"conns {self.connections_served}/{self.connections} served"
        if self.connections_seen != self.connections:
            text += f" ({self.connections_seen} open)"
        if self.connections_stalled:
            text += f", {self.connections_stalled} stalled"
        text += f", queue max {self.accept_queue_max}"
        if self.accept_queue_nonempty_samples:
            text += (
                f" (non-empty in {self.accept_queue_nonempty_samples} of "
                f"{self.socket_samples} samples)"
            )
        return text

    @property
    def statuses_summary(self) -> str:
        """`statuses {200: 9000, 503: 12}, 12 503s with Retry-After`; empty when not tallied."""
        if self.statuses is None:
            return ""
        tally = ", ".join(f"{code}: {count}" for code, count in self.statuses.items())
        return f"statuses {{{tally}}}, {self.retry_after_503 or 0} 503s with Retry-After"

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def _parse_wrk(output: str, connections: int, account: ConnectionAccount) -> WrkResult:
    line = next((line for line in output.splitlines() if line.startswith(RESULT_MARKER)), None)
    if line is None:
        raise LoadError(f"wrk printed no result:\n{output}")
    raw = json.loads(line.removeprefix(RESULT_MARKER))
    seconds = raw["duration_us"] / 1e6
    kinds: dict[str, int] = raw["errors"]
    statuses: dict[str, int] | None = raw.get("statuses")
    return WrkResult(
        requests=raw["requests"],
        seconds=round(seconds, 3),
        rps=round(raw["requests"] / seconds, 1) if seconds else 0.0,
        p50_ms=raw["p50_us"] / 1000,
        p90_ms=raw["p90_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        max_ms=raw["max_us"] / 1000,
        mean_ms=raw["mean_us"] / 1000,
        errors=sum(kinds.values()),
        error_kinds={kind: count for kind, count in kinds.items() if count},
        connections=connections,
        **asdict(account),
        statuses=None if statuses is None else dict(sorted(statuses.items())),
        retry_after_503=raw.get("retry_after_503"),
    )


def run_wrk(
    target: Target,
    scenario: str,
    connections: int,
    seconds: int,
    threads: int,
    *,
    shared_port: bool = False,
) -> WrkResult:
    """One wrk run of a scenario script against a target; a fresh nonce keeps creates unique.

    While it runs, `ss` samples the target's port: wrk's figures only hold the connections
    that were answered, the samples show the ones that were not. `shared_port`: another
    client (the overload's health prober) connects to the port too, so the samples keep only
    wrk's own sockets, which costs ss a walk through every process's open files.
    """
    script = WRK_DIR / f"{scenario}.lua"
    command = [
        require_tool("wrk"),
        f"--threads={threads}",
        f"--connections={connections}",
        f"--duration={seconds}s",
        "--timeout=5s",
        "--latency",
        f"--script={script}",
        target.base_url + "/",
    ]
    environment = {
        "PATH": "/usr/bin:/bin",
        "BENCH_USERS_PATH": target.users_path,
        "BENCH_API_KEY": target.api_key,
        "BENCH_SEEDED_USERS": str(SEEDED_USERS),
        "BENCH_SEEDED_ORGANIZATIONS": str(SEEDED_ORGANIZATIONS),
        "BENCH_NONCE": uuid.uuid4().hex[:10],
    }
    process = subprocess.Popen(  # noqa: S603 - wrk with arguments built here
        command,
        env=environment,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    sampler = ConnectionSampler(_port(target), process, only_owner=shared_port)
    sampler.start()
    try:
        stdout, stderr = process.communicate(timeout=seconds + 60)
    except subprocess.TimeoutExpired:
        process.kill()
        stdout, stderr = process.communicate()
    account = sampler.finish(seconds)
    if process.returncode != 0:
        raise LoadError(f"wrk failed ({process.returncode}):\n{stderr}{stdout}")
    return _parse_wrk(stdout, connections, account)


def _port(target: Target) -> int:
    port = urlsplit(target.base_url).port
    if port is None:
        raise LoadError(f"{target.base_url} names no port")
    return port


@dataclass(frozen=True)
class PgbenchResult:
    clients: int
    seconds: int
    tps: float
    latency_ms: float | None

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def run_pgbench(database_url: str, clients: int, seconds: int, threads: int) -> PgbenchResult:
    """The service's GET-by-id query straight on PostgreSQL: what no HTTP layer can beat."""
    options, environment = pgbench_connection(database_url)
    command = [
        require_tool("pgbench"),
        "--no-vacuum",
        f"--client={clients}",
        f"--jobs={threads}",
        f"--time={seconds}",
        "--protocol=prepared",
        f"--file={PGBENCH_SCRIPT}",
        *options,
    ]
    result = subprocess.run(  # noqa: S603 - pgbench with arguments built here
        command,
        env={"PATH": "/usr/bin:/bin", **environment},
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=False,
    )
    tps = re.search(r"^tps = ([\d.]+)", result.stdout, re.MULTILINE)
    if result.returncode != 0 or tps is None:
        raise LoadError(f"pgbench failed ({result.returncode}):\n{result.stderr}{result.stdout}")
    latency = re.search(r"^latency average = ([\d.]+) ms", result.stdout, re.MULTILINE)
    return PgbenchResult(
        clients=clients,
        seconds=seconds,
        tps=float(tps.group(1)),
        latency_ms=float(latency.group(1)) if latency else None,
    )


@dataclass(frozen=True)
class BatchResult:
    size: int
    requests: int
    errors: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    samples_ms: list[float]

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def _batch_body(nonce: str, request: int, size: int) -> dict[str, Any]:
    items = []
    for number in range(size):
        name = f"batch{nonce}r{request}n{number}"
        items.append(
            {"email": f"{name}@example.com", "username": name, "password_hash": BCRYPT_HASH}
        )
    return {"items": items}


def _percentile(samples: list[float], percent: float) -> float:
    """Nearest-rank percentile: with few samples, p99 is the slowest one."""
    ordered = sorted(samples)
    rank = max(1, -(-len(ordered) * percent // 100))
    return ordered[int(rank) - 1]


def run_batches(target: Target, requests: int, size: int = 1000, warmup: int = 2) -> BatchResult:
    """Sequential POST /users/batch of `size` new users each; the first `warmup` are dropped."""
    nonce = uuid.uuid4().hex[:10]
    samples: list[float] = []
    errors = 0
    headers = {"Authorization": f"Bearer {target.api_key}", "Content-Type": "application/json"}
    with httpx.Client(base_url=target.base_url, headers=headers, timeout=30.0) as client:
        for request in range(warmup + requests):
            # Bodies are encoded outside the timed span: only the round trip is measured.
            body = json.dumps(_batch_body(nonce, request, size)).encode()
            started = time.perf_counter()
            response = client.post(f"{target.users_path}/batch", content=body)
            elapsed_ms = (time.perf_counter() - started) * 1000
            if request < warmup:
                continue
            samples.append(round(elapsed_ms, 2))
            if response.status_code != httpx.codes.CREATED:
                errors += 1
    return BatchResult(
        size=size,
        requests=requests,
        errors=errors,
        p50_ms=round(statistics.median(samples), 2),
        p99_ms=_percentile(samples, 99),
        max_ms=max(samples),
        samples_ms=samples,
    )
