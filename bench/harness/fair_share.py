"""A quiet client during another client's flood (bench/README.md, "Fair shares").

The quiet client (the bench's key) reads users by id at QUIET_CONNECTIONS alone, then again
while a second client (a key of its own, `flood`) holds FLOOD_CONNECTIONS reading users by id
as fast as it is answered (overload.lua, which tallies its statuses); alternating which comes
first, round by round. The quiet client should keep most of what it has alone: admission
control gives each client a fair share of a saturated worker (api/fair_shares.py).
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
# The flood starts this long before the quiet client's warm-up, and ends after its run.
FLOOD_LEAD_SECONDS = 2


@dataclass
class FairShareResult:
    # `reference`: the quiet client alone; `changed`: beside the flood.
    quiet: PairedRuns
    floods: list[WrkResult]

    def as_json(self) -> dict[str, Any]:
        return {
            "quiet": self.quiet.as_json(),
            "floods": [flood.as_json() for flood in self.floods],
        }


def _flood_key(database_url: str) -> str:
    """A key of a second client, allowed to read users."""
    create = [
        str(BIN_DIR / "db-postgres-service"),
        "clients",
        "create",
        FLOOD_CLIENT,
        "--scope=users:read",
    ]
    return run_command(create, database_url).strip().splitlines()[-1]


def _beside_flood(
    quiet: Target, flood: Target, seconds: int, warmup: int, threads: int
) -> tuple[WrkResult, WrkResult]:
    """The quiet client's run while the flood goes on, and the flood's own run."""
    flooded: list[WrkResult] = []
    flood_seconds = FLOOD_LEAD_SECONDS + warmup + seconds + FLOOD_LEAD_SECONDS
    thread = threading.Thread(
        target=lambda: flooded.append(
            run_wrk(flood, "overload", FLOOD_CONNECTIONS, flood_seconds, threads, shared_port=True)
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
    return measured, flooded[0]


def run_fair_share(
    service: Target, database_url: str, rounds: int, seconds: int, warmup: int, threads: int
) -> FairShareResult:
    flood = dataclasses.replace(service, api_key=_flood_key(database_url))
    quiet = PairedRuns()
    floods = []
    for number in range(rounds):
        order = (False, True) if number % 2 == 0 else (True, False)
        for flooding in order:
            if not flooding:
                if warmup:
                    run_wrk(service, "by_id", QUIET_CONNECTIONS, warmup, threads)
                quiet.reference.append(
                    run_wrk(service, "by_id", QUIET_CONNECTIONS, seconds, threads)
                )
                continue
            measured, flood_run = _beside_flood(service, flood, seconds, warmup, threads)
            quiet.changed.append(measured)
            floods.append(flood_run)
    return FairShareResult(quiet, floods)
