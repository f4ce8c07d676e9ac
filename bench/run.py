"""`make bench`: the service against the tutorial baseline, measured in the same run.

Seeds 10,000 users in each of two throw-away databases, starts the service as production runs
it (`db-postgres-service serve`: granian, 2 workers, API keys, INFO logs) and the baseline
(bench/baseline/app.py under uvicorn with 2 workers), drives both with wrk from this separate
process, and prints req/s, p50, p99, errors and how many of wrk's connections were answered
(sampled with `ss`) per scenario and connection count, with every figure as a ratio to the
baseline; then the service at 1024 connections and right after, pgbench on the GET-by-id query
as the ceiling, batches of 1000, RSS per worker before and after a long run, and the PASS/FAIL
lines of the targets. Writes bench/results/latest.json, bench/results/<UTC time>.json and
bench/results/latest.png.

Settings (environment): BENCH_DURATION (15 s per measured run), BENCH_WARMUP (5 s, discarded,
before each), BENCH_CONNECTIONS (16,64,256), BENCH_SCENARIOS (all: by_id, org_by_id, by_username,
list, org_list, members, patch, create, org_create, overload, batch, pgbench, rss, outbox,
long_poll, relay, fair_share, pgbouncer, client_cpu; the org_*
scenarios and members, routes the baseline lacks, run on the service alone, each org_* one right
after its user counterpart), BENCH_SKIP_BASELINE, BENCH_OVERLOAD_SECONDS
(20), BENCH_RSS_SECONDS (60), BENCH_RSS_TOLERANCE_MIB (10), BENCH_BATCH_REQUESTS (20),
BENCH_ROUNDS (1: pairs of runs per scenario, the median pair is reported), BENCH_THREADS (2),
DATABASE_URL (a server to create the two databases on; an embedded PostgreSQL without it).
Exit status 1 when a target FAILs, 2 when the run itself failed.
"""

import datetime
import os
import resource
import signal
import subprocess
import sys
import traceback
from contextlib import ExitStack
from pathlib import Path
from types import FrameType
from typing import Any

# Run as a script (`python bench/run.py`): make the checkout importable as well.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness.chart import write_chart
from bench.harness.client_cpu import measure_client_cpu
from bench.harness.config import (
    ORGANIZATION_COUNTERPARTS,
    REPO_DIR,
    RESULTS_DIR,
    SERVICE_ONLY_SCENARIOS,
    BenchConfig,
    ConfigError,
    load_config,
)
from bench.harness.database import Databases, printable, provision
from bench.harness.events import LONG_POLLS, PairedRuns, run_long_polls, run_outbox
from bench.harness.fair_share import FLOOD_CONNECTIONS, QUIET_CONNECTIONS, run_fair_share
from bench.harness.load import (
    LoadError,
    WrkResult,
    require_tool,
    run_batches,
    run_pgbench,
    run_wrk,
)
from bench.harness.memory import measure_memory
from bench.harness.overload import OVERLOAD_CONNECTIONS, run_overload
from bench.harness.pool_mode import POOL_MODE_CONNECTIONS, run_pool_mode
from bench.harness.relay import RELAY_SECONDS, run_relay
from bench.harness.report import render, write_json
from bench.harness.results import Check, Comparison, RunResults, evaluate, median_round
from bench.harness.servers import (
    ServerError,
    Target,
    prepare_baseline,
    prepare_service,
    running_baseline,
    running_service,
)

PGBENCH_CLIENTS = 16
# Paired runs (outbox, long_poll) are judged on the median of at least this many rounds.
MIN_PAIRED_ROUNDS = 3
# Open files wanted for this process and its children (wrk, the servers): wrk needs one per
# connection, and a server that accepts every connection one per connection too.
FD_LIMIT_WANTED = 16_384


def say(message: str) -> None:
    print(message, flush=True)


def _output(command: list[str]) -> str:
    try:
        result = subprocess.run(  # noqa: S603 - fixed commands
            command, cwd=REPO_DIR, capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return (result.stdout or result.stderr).strip()


def _first_line(command: list[str]) -> str:
    return next(iter(_output(command).splitlines()), "unknown")


def _environment() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "load_average_before": list(os.getloadavg()),
        "python": sys.version.split()[0],
        "wrk": _first_line([require_tool("wrk"), "--version"]),
        "pgbench": _first_line([require_tool("pgbench"), "--version"]),
        "git_commit": _first_line(["git", "rev-parse", "--short", "HEAD"]),
        # Whether the service measured differs from that commit.
        "src_changed": bool(_output(["git", "status", "--porcelain", "--", "src", "alembic"])),
    }


def _measure(target: Target, scenario: str, connections: int, config: BenchConfig) -> WrkResult:
    if config.warmup:
        run_wrk(target, scenario, connections, config.warmup, config.threads)
    result = run_wrk(target, scenario, connections, config.duration, config.threads)
    say(_run_line(scenario, target, result))
    return result


def _run_line(scenario: str, target: Target, result: WrkResult) -> str:
    errors = f", errors {result.error_kinds}" if result.errors else ""
    statuses = f", {result.statuses_summary}" if result.statuses is not None else ""
    return (
        f"  {scenario:<12} @{result.connections:<4} {target.name:<8} {result.rps:>8.0f} req/s  "
        f"p50 {result.p50_ms:6.2f} ms  p99 {result.p99_ms:6.1f} ms  "
        f"{result.connections_summary}{errors}{statuses}"
    )


def _compare(service: Target, baseline: Target | None, config: BenchConfig) -> list[Comparison]:
    """Each scenario and connection count on both servers back to back, so that both see the
    same machine (it is shared and noisy). With several rounds the order alternates and the
    round with the median ratio is reported. The organizations' counterpart of a user scenario
    (GET by id, the first page, create) runs right after the user's on the service, so that the
    two resources are compared round by round."""
    comparisons = []
    chosen = config.wrk_scenarios
    counterparts = {
        user: organization
        for user, organization in ORGANIZATION_COUNTERPARTS.items()
        if user in chosen and organization in chosen
    }
    for scenario in chosen:
        if scenario in counterparts.values():
            continue
        follower_scenario = counterparts.get(scenario)
        for connections in config.connections:
            rounds, followers = [], []
            for number in range(config.rounds):
                against = None if scenario in SERVICE_ONLY_SCENARIOS else baseline
                order = [service, against] if number % 2 == 0 else [against, service]
                measured = {}
                for target in order:
                    if target is None:
                        continue
                    measured[target.name] = _measure(target, scenario, connections, config)
                    if follower_scenario and target is service:
                        follower = _measure(service, follower_scenario, connections, config)
                        followers.append(Comparison(follower_scenario, connections, follower, None))
                rounds.append(
                    Comparison(scenario, connections, measured["service"], measured.get("baseline"))
                )
            comparisons.append(median_round(rounds))
            if followers:
                comparisons.append(median_round(followers))
    return comparisons


def _paired_lines(scenario: str, runs: PairedRuns, changed: str, reference: str) -> None:
    for number, (before, after) in enumerate(zip(runs.reference, runs.changed, strict=True), 1):
        say(
            f"  {scenario:<12} round {number}: "
            f"{changed} {after.rps:.0f}, {reference} {before.rps:.0f} req/s"
        )


def _measure_memory(results: RunResults, targets: list[Target]) -> None:
    config = results.config
    for target in targets:
        say(f"  rss          {target.name}: {config.rss_seconds} s GET by id @64")
        results.memory[target.name] = measure_memory(
            target, config.warmup, config.rss_seconds, config.threads
        )


def _overload(results: RunResults, service: Target) -> None:
    """The service alone: the baseline's behaviour past its capacity is not a target."""
    config = results.config
    say(
        f"  overload     service: {config.overload_seconds} s GET by id "
        f"@{OVERLOAD_CONNECTIONS} between two {config.duration} s runs @64"
    )
    overload = run_overload(service, config.overload_seconds, config.duration, config.threads)
    say(_run_line("before", service, overload.before))
    say(_run_line("overload", service, overload.load))
    say(_run_line("recovery", service, overload.recovery))
    results.overload = overload


def _start_servers(
    stack: ExitStack, databases: Databases, config: BenchConfig
) -> tuple[Target, Target | None]:
    say(
        "preparing the service's database "
        "(migrate, API key, 10,000 users, 1,000 organizations of 10 members)"
    )
    api_key = prepare_service(databases.service)
    say("starting the service: db-postgres-service serve (granian, WEB_CONCURRENCY=2)")
    service = stack.enter_context(
        running_service(databases.service, api_key, RESULTS_DIR / "service.log")
    )
    if config.skip_baseline:
        return service, None
    say("preparing the baseline's database (create_all, 10,000 users)")
    prepare_baseline(databases.baseline)
    say("starting the baseline: uvicorn bench.baseline.app:app --workers 2")
    baseline = stack.enter_context(
        running_baseline(databases.baseline, RESULTS_DIR / "baseline.log")
    )
    return service, baseline


def run(config: BenchConfig) -> RunResults:
    results = RunResults(datetime.datetime.now(datetime.UTC), config, _environment())
    with ExitStack() as stack:
        databases = stack.enter_context(provision(config.database_url))
        where = "embedded PostgreSQL" if databases.embedded else printable(databases.server)
        say(f"databases on {where}")
        service, baseline = _start_servers(stack, databases, config)
        targets = [service] if baseline is None else [service, baseline]
        # First, while the workers have served nothing but a warm-up: memory at rest.
        if config.runs("rss"):
            _measure_memory(results, targets)
        results.comparisons = _compare(service, baseline, config)
        if config.runs("overload"):
            _overload(results, service)
        if config.runs("pgbench"):
            say(f"  pgbench      {PGBENCH_CLIENTS} clients, {config.duration} s")
            results.pgbench = run_pgbench(
                databases.service, PGBENCH_CLIENTS, config.duration, config.threads
            )
        if config.runs("batch"):
            say(f"  batch        {config.batch_requests} x 1000 users")
            results.batch = run_batches(service, config.batch_requests)
        rounds = max(config.rounds, MIN_PAIRED_ROUNDS)
        timing = (config.duration, config.warmup, config.threads)
        if config.runs("outbox"):
            say(f"  outbox       create @64, events written or skipped, {rounds} rounds")
            results.outbox = run_outbox(service, databases.service, rounds, *timing)
            _paired_lines("outbox", results.outbox, "written", "skipped")
        if config.runs("long_poll"):
            say(f"  long_poll    GET by id @64 beside {LONG_POLLS} long polls or alone")
            results.long_poll = run_long_polls(service, databases.service, rounds, *timing)
            _paired_lines("long_poll", results.long_poll.runs, "beside", "alone")
        if config.runs("relay"):
            say(f"  relay        the backlog, then {RELAY_SECONDS} s of POST create @64")
            results.relay = run_relay(
                service, databases.service, config.threads, RESULTS_DIR / "relay.log"
            )
        if config.runs("pgbouncer"):
            say(
                f"  pgbouncer    GET by id @{POOL_MODE_CONNECTIONS} direct or through PgBouncer, "
                f"{rounds} rounds"
            )
            results.pgbouncer = run_pool_mode(
                service, databases.service, RESULTS_DIR / "pgbouncer-service.log", rounds, *timing
            )
            _paired_lines("pgbouncer", results.pgbouncer, "pgbouncer", "direct")
        if config.runs("fair_share"):
            say(
                f"  fair_share   GET by id @{QUIET_CONNECTIONS} alone or beside another client's "
                f"@{FLOOD_CONNECTIONS}, {rounds} rounds"
            )
            results.fair_share = run_fair_share(service, databases.service, rounds, *timing)
            _paired_lines("fair_share", results.fair_share.quiet, "beside", "alone")
    # In-process and alone: the servers have stopped, so that only the client's CPU is timed.
    if config.runs("client_cpu"):
        say("  client_cpu   client.users.get(id) against a bare httpx get, in-process")
        results.client_cpu = measure_client_cpu()
    results.finished_at = datetime.datetime.now(datetime.UTC)
    results.environment["load_average_after"] = list(os.getloadavg())
    return results


def _save(results: RunResults, checks: list[Check]) -> None:
    stamp = results.started_at.strftime("%Y%m%dT%H%M%SZ")
    paths = [RESULTS_DIR / "latest.json", RESULTS_DIR / f"{stamp}.json"]
    write_json(results, checks, paths)
    config = results.config
    subtitle = (
        f"{stamp}: {config.duration} s per run, wrk {config.threads} threads; "
        "service: granian, 2 workers; baseline: uvicorn, 2 workers"
    )
    chart = RESULTS_DIR / "latest.png"
    if write_chart(results.comparisons, chart, subtitle):
        paths.append(chart)
    say(f"\nwrote {', '.join(str(path) for path in paths)}")


def _terminate_on_sigterm() -> None:
    """SIGTERM unwinds like Ctrl-C does, so that servers stop and databases are dropped."""

    def handler(signum: int, _: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


def _raise_fd_limit(config: BenchConfig) -> None:
    """Raise the soft limit on open files (children inherit it) as far as the hard limit
    allows: 1024, a common default, is less than wrk needs for 1024 connections."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    ceiling = FD_LIMIT_WANTED if hard == resource.RLIM_INFINITY else min(hard, FD_LIMIT_WANTED)
    if soft != resource.RLIM_INFINITY and soft < ceiling:
        resource.setrlimit(resource.RLIMIT_NOFILE, (ceiling, hard))
        soft = ceiling
    most = max((*config.connections, OVERLOAD_CONNECTIONS if config.runs("overload") else 0))
    # Headroom for wrk's own files and the servers' database connections and logs.
    if soft != resource.RLIM_INFINITY and soft < most + 256:
        say(
            f"bench: warning: open files limited to {soft} (hard limit {hard}); "
            f"{most} connections may fail for want of file descriptors"
        )


def main() -> int:
    _terminate_on_sigterm()
    try:
        config = load_config()
        require_tool("wrk")
        require_tool("pgbench")
        require_tool("ss")
    except (ConfigError, LoadError) as error:
        say(f"bench: {error}")
        return 2
    _raise_fd_limit(config)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    say(
        f"bench: {config.duration} s per run after {config.warmup} s warm-up, "
        f"connections {','.join(map(str, config.connections))}, "
        f"scenarios {','.join(config.scenarios)}"
        + (f", {config.rounds} rounds" if config.rounds > 1 else "")
        + (", no baseline" if config.skip_baseline else "")
    )
    try:
        results = run(config)
    except (ServerError, LoadError) as error:
        say(f"bench: {error}")
        return 2
    except Exception:
        traceback.print_exc()
        return 2
    checks = evaluate(results)
    say("\n" + render(results, checks))
    _save(results, checks)
    return 1 if any(check.verdict == "FAIL" for check in checks) else 0


if __name__ == "__main__":
    sys.exit(main())
