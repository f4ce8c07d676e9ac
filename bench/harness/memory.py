"""Resident memory of each worker at rest and after a long GET-by-id run: does it grow?"""

import time
from dataclasses import asdict, dataclass
from typing import Any

from bench.harness.load import WrkResult, run_wrk
from bench.harness.servers import Target, rss_mib, worker_pids

RSS_CONNECTIONS = 64
# Idle time before each reading, so that requests in flight have finished.
SETTLE_SECONDS = 2.0


@dataclass(frozen=True)
class WorkerMemory:
    pid: int
    at_rest_mib: float
    after_mib: float | None

    @property
    def growth_mib(self) -> float | None:
        return None if self.after_mib is None else self.after_mib - self.at_rest_mib


@dataclass(frozen=True)
class MemoryResult:
    target: str
    seconds: int
    connections: int
    workers: list[WorkerMemory]
    load: WrkResult

    @property
    def max_growth_mib(self) -> float | None:
        growths = [worker.growth_mib for worker in self.workers]
        if not growths or any(growth is None for growth in growths):
            return None
        return max(growth for growth in growths if growth is not None)

    @property
    def total_after_mib(self) -> float | None:
        afters = [worker.after_mib for worker in self.workers]
        if not afters or any(after is None for after in afters):
            return None
        return sum(after for after in afters if after is not None)

    def as_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "seconds": self.seconds,
            "connections": self.connections,
            "workers": [
                {**asdict(worker), "growth_mib": worker.growth_mib} for worker in self.workers
            ],
            "max_growth_mib": self.max_growth_mib,
            "load": self.load.as_json(),
        }


def _readings(target: Target) -> dict[int, float]:
    time.sleep(SETTLE_SECONDS)
    readings = {}
    for pid in worker_pids(target.pid):
        rss = rss_mib(pid)
        if rss is not None:
            readings[pid] = rss
    return readings


def measure_memory(target: Target, warmup: int, seconds: int, threads: int) -> MemoryResult:
    """Warm up, read every worker's RSS, run GET by id for `seconds`, read again.

    A worker that is gone afterwards (crashed and replaced) has no second reading.
    """
    if warmup:
        run_wrk(target, "by_id", RSS_CONNECTIONS, warmup, threads)
    at_rest = _readings(target)
    load = run_wrk(target, "by_id", RSS_CONNECTIONS, seconds, threads)
    after = _readings(target)
    workers = [WorkerMemory(pid, rss, after.get(pid)) for pid, rss in sorted(at_rest.items())]
    return MemoryResult(target.name, seconds, RSS_CONNECTIONS, workers, load)
