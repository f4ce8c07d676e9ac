"""A quiet client during another client's flood (bench/README.md, "Fair shares").

The quiet client (the bench's key) reads users by id at QUIET_CONNECTIONS alone, then again
while a second client (a key of its own, `flood`) holds FLOOD_CONNECTIONS reading users by id
as fast as it is answered (overload.lua, which tallies its statuses); alternating which comes
first, round by round. The quiet client should keep most of what it has alone: admission
control gives each client a fair share of a saturated worker (api/fair_shares.py).

Each round also runs the quiet client beside a twin: a third client (`twin`) reading at
QUIET_CONNECTIONS too. What the quiet client keeps beside an equal, well-behaved client is
the most any fair split of the service can leave it, measured on the same machine in the same
run: the flood's figure is read against it.
"""

import dataclasses
import threading
from dataclasses import dataclass
from typing import Any

from bench.harness.events import PairedRuns
from bench.harness.load import WrkResult, run_wrk
from bench.harness.servers import BIN_DIR, Target, run_command

QUIET_CONNECTIONS = 16
FLOOD_CONNECTIONS = 512
FLOOD_CLIENT = "flood"
TWIN_CLIENT = "twin"
# The flood starts this long before the quiet client's warm-up, and ends after its run.
FLOOD_LEAD_SECONDS = 2


@dataclass
class FairShareResult:
    # `reference`: the quiet client alone; `changed`: beside the flood.
    quiet: PairedRuns
    floods: list[WrkResult]
    # `reference`: the quiet client alone; `changed`: beside its twin.
    beside_twin: PairedRuns

    def as_json(self) -> dict[str, Any]:
        return {
            "quiet": self.quiet.as_json(),
            "floods": [flood.as_json() for flood in self.floods],
            "beside_twin": self.beside_twin.as_json(),
        }


def _client_key(database_url: str, name: str) -> str:
    """A key of another client, allowed to read users."""
    create = [str(BIN_DIR / "db-postgres-service"), "clients", "create", name, "--scope=users:read"]
    return run_command(create, database_url).strip().splitlines()[-1]


def _beside(
    quiet: Target, other: Target, scenario: str, connections: int, timing: tuple[int, int, int]
) -> tuple[WrkResult, WrkResult]:
    """The quiet client's run while the other client's goes on, and the other's own run."""
    seconds, warmup, threads = timing
    others: list[WrkResult] = []
    other_seconds = FLOOD_LEAD_SECONDS + warmup + seconds + FLOOD_LEAD_SECONDS
    thread = threading.Thread(
        target=lambda: others.append(
            run_wrk(other, scenario, connections, other_seconds, threads, shared_port=True)
        )
    )
    thread.start()
    try:
        threading.Event().wait(FLOOD_LEAD_SECONDS)
        if warmup:
            run_wrk(quiet, "by_id", QUIET_CONNECTIONS, warmup, threads, shared_port=True)
        measured = run_wrk(quiet, "by_id", QUIET_CONNECTIONS, seconds, threads, shared_port=True)
    finally:
        thread.join()
    return measured, others[0]


def run_fair_share(
    service: Target, database_url: str, rounds: int, seconds: int, warmup: int, threads: int
) -> FairShareResult:
    flood = dataclasses.replace(service, api_key=_client_key(database_url, FLOOD_CLIENT))
    twin = dataclasses.replace(service, api_key=_client_key(database_url, TWIN_CLIENT))
    timing = (seconds, warmup, threads)
    quiet = PairedRuns()
    beside_twin = PairedRuns()
    floods = []
    for number in range(rounds):
        order = (False, True) if number % 2 == 0 else (True, False)
        for flooding in order:
            if not flooding:
                if warmup:
                    run_wrk(service, "by_id", QUIET_CONNECTIONS, warmup, threads)
                alone = run_wrk(service, "by_id", QUIET_CONNECTIONS, seconds, threads)
                quiet.reference.append(alone)
                beside_twin.reference.append(alone)
                continue
            measured, flood_run = _beside(service, flood, "overload", FLOOD_CONNECTIONS, timing)
            quiet.changed.append(measured)
            floods.append(flood_run)
        beside_twin.changed.append(_beside(service, twin, "by_id", QUIET_CONNECTIONS, timing)[0])
    return FairShareResult(quiet, floods, beside_twin)
