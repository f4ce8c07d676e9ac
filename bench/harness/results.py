"""Everything one run measured, and the targets it is judged on (PASS/FAIL/SKIP)."""

import datetime
import statistics
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from bench.harness.client_cpu import ClientCpuResult
from bench.harness.config import ORGANIZATION_COUNTERPARTS, SCENARIO_TITLES, BenchConfig
from bench.harness.database import printable
from bench.harness.events import LONG_POLLS, LongPollResult, PairedRuns
from bench.harness.fair_share import (
    FLOOD_CONNECTIONS,
    QUIET_CONNECTIONS,
    FairShareResult,
)
from bench.harness.load import BatchResult, PgbenchResult, WrkResult
from bench.harness.memory import MemoryResult
from bench.harness.overload import (
    HEALTH_PROBE_MAX_MS,
    OVERLOAD_CONNECTIONS,
    RECOVERY_CONNECTIONS,
    OverloadResult,
)
from bench.harness.pool_mode import POOL_MODE_CONNECTIONS
from bench.harness.relay import RelayResult

Verdict = Literal["PASS", "FAIL", "SKIP"]

# The targets, at this many connections (or the most the run used).
TARGET_CONNECTIONS = 64
BY_ID_RATIO = 5.0
BY_ID_P99_MS = 30.0
OTHER_READS_RATIO = 4.0
CREATE_RATIO = 3.0
BATCH_P50_MS = 150.0
# GET by id, the first page and create of organizations: at least this share of the users'
# req/s in the same run (round by round).
ORGANIZATION_PARITY = 0.9
# Creates with their events written, against the same creates with the event rows skipped.
OUTBOX_SHARE = 0.85
# GET by id beside LONG_POLLS waiting long polls, against GET by id alone.
LONG_POLL_SHARE = 0.9
# The relay keeps up: its lag in the last part of a sustained create run is no larger than in
# the first (or than this floor: a batch in flight and its confirms take a moment).
RELAY_LAG_FLOOR_SECONDS = 2.0
RELAY_WINDOW_SAMPLES = 4
# A quiet client beside another client's flood: at least this share of its req/s alone.
QUIET_SHARE = 0.5
# Issue 22: transaction mode through PgBouncer keeps GET by id at this share of direct.
PGBOUNCER_SHARE = 0.7
# CPU per call of `client.users.get(id)` over a bare `httpx.Client.get` of the same URL.
CLIENT_CPU_RATIO_MAX = 1.5
# Connection accounting (bench/harness/sockets.py): samples with a non-empty accept queue
# tolerated per run. The first sample may catch wrk's connections in the middle of their
# handshake burst; a second one means connections wait to be accepted.
ACCEPT_QUEUE_NONEMPTY_SAMPLES_ALLOWED = 1
# Overload: GET by id right after it at least this share of by_id's req/s at the same
# connection count (the /health probes' limit is HEALTH_PROBE_MAX_MS in overload.py).
RECOVERY_RPS_SHARE = 0.8


@dataclass(frozen=True)
class Comparison:
    """One scenario at one connection count, on the service and (unless skipped) the baseline."""

    scenario: str
    connections: int
    service: WrkResult
    baseline: WrkResult | None
    # With BENCH_ROUNDS > 1: every round's (service, baseline); this one is their median.
    rounds: tuple["Comparison", ...] = ()

    @property
    def title(self) -> str:
        return SCENARIO_TITLES[self.scenario]

    @property
    def rps_ratio(self) -> float | None:
        """Service req/s over baseline req/s: above 1 the service is faster."""
        if self.baseline is None or not self.baseline.rps:
            return None
        return self.service.rps / self.baseline.rps

    @property
    def p50_ratio(self) -> float | None:
        """Service p50 over baseline p50: below 1 the service answers faster."""
        if self.baseline is None or not self.baseline.p50_ms:
            return None
        return self.service.p50_ms / self.baseline.p50_ms

    @property
    def p99_ratio(self) -> float | None:
        """Service p99 over baseline p99: below 1 the service's tail is shorter."""
        if self.baseline is None or not self.baseline.p99_ms:
            return None
        return self.service.p99_ms / self.baseline.p99_ms

    def as_json(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "title": self.title,
            "connections": self.connections,
            "service": self.service.as_json(),
            "baseline": self.baseline.as_json() if self.baseline else None,
            "rps_ratio": _rounded(self.rps_ratio),
            "p50_ratio": _rounded(self.p50_ratio),
            "p99_ratio": _rounded(self.p99_ratio),
            "rounds": [
                {
                    "service": round_.service.as_json(),
                    "baseline": round_.baseline.as_json() if round_.baseline else None,
                    "rps_ratio": _rounded(round_.rps_ratio),
                }
                for round_ in self.rounds
            ],
        }


def median_round(rounds: list[Comparison]) -> Comparison:
    """The round with the median req/s ratio (or service req/s without a baseline), keeping
    all rounds: a pair measured back to back, not a mix of figures from different moments."""
    ordered = sorted(
        rounds,
        key=lambda comparison: (
            comparison.rps_ratio if comparison.rps_ratio is not None else comparison.service.rps
        ),
    )
    chosen = ordered[(len(ordered) - 1) // 2]
    if len(rounds) == 1:
        return chosen
    return Comparison(
        chosen.scenario, chosen.connections, chosen.service, chosen.baseline, tuple(rounds)
    )


@dataclass(frozen=True)
class Check:
    verdict: Verdict
    name: str
    detail: str


@dataclass
class RunResults:
    started_at: datetime.datetime
    config: BenchConfig
    environment: dict[str, Any]
    comparisons: list[Comparison] = field(default_factory=list)
    pgbench: PgbenchResult | None = None
    batch: BatchResult | None = None
    memory: dict[str, MemoryResult] = field(default_factory=dict)
    overload: OverloadResult | None = None
    outbox: PairedRuns | None = None
    long_poll: LongPollResult | None = None
    # `reference`: GET by id directly; `changed`: through PgBouncer in transaction mode.
    pgbouncer: PairedRuns | None = None
    relay: RelayResult | None = None
    fair_share: FairShareResult | None = None
    client_cpu: ClientCpuResult | None = None
    finished_at: datetime.datetime | None = None

    def find(self, scenario: str, connections: int) -> Comparison | None:
        return next(
            (
                comparison
                for comparison in self.comparisons
                if comparison.scenario == scenario and comparison.connections == connections
            ),
            None,
        )

    @property
    def target_connections(self) -> int:
        measured = self.config.connections
        return TARGET_CONNECTIONS if TARGET_CONNECTIONS in measured else max(measured)

    @property
    def _printable_database_url(self) -> str | None:
        url = self.config.database_url
        return printable(url) if url else None

    def as_json(self, checks: list[Check]) -> dict[str, Any]:
        return {
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "config": asdict(self.config) | {"database_url": self._printable_database_url},
            "environment": self.environment,
            "scenarios": [comparison.as_json() for comparison in self.comparisons],
            "pgbench": self.pgbench.as_json() if self.pgbench else None,
            "batch": self.batch.as_json() if self.batch else None,
            "memory": {name: result.as_json() for name, result in self.memory.items()},
            "overload": self.overload.as_json() if self.overload else None,
            "outbox": self.outbox.as_json() if self.outbox else None,
            "long_poll": self.long_poll.as_json() if self.long_poll else None,
            "pgbouncer": self.pgbouncer.as_json() if self.pgbouncer else None,
            "relay": self.relay.as_json() if self.relay else None,
            "fair_share": self.fair_share.as_json() if self.fair_share else None,
            "client_cpu": self.client_cpu.as_json() if self.client_cpu else None,
            "checks": [asdict(check) for check in checks],
        }


def _rounded(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def _ratio_check(results: RunResults, scenario: str, minimum: float) -> Check:
    connections = results.target_connections
    title = SCENARIO_TITLES[scenario]
    name = f"{title} @{connections} conns: >= {minimum:g}x baseline req/s"
    comparison = results.find(scenario, connections)
    if comparison is None:
        return Check("SKIP", name, "scenario not run")
    ratio = comparison.rps_ratio
    if ratio is None:
        return Check("SKIP", name, "baseline not run")
    detail = (
        f"{comparison.service.rps:.0f} vs {comparison.baseline.rps:.0f} req/s = {ratio:.2f}x"
        if comparison.baseline
        else ""
    )
    return Check("PASS" if ratio >= minimum else "FAIL", name, detail)


def _by_id_check(results: RunResults) -> list[Check]:
    connections = results.target_connections
    comparison = results.find("by_id", connections)
    name = f"GET by id @{connections} conns: p99 <= {BY_ID_P99_MS:g} ms and 0 errors"
    checks = [_ratio_check(results, "by_id", BY_ID_RATIO)]
    if comparison is None:
        return [*checks, Check("SKIP", name, "scenario not run")]
    service = comparison.service
    passed = service.p99_ms <= BY_ID_P99_MS and service.errors == 0
    detail = f"p99 {service.p99_ms:.1f} ms, {service.errors} errors"
    return [*checks, Check("PASS" if passed else "FAIL", name, detail)]


def _organization_parity_check(results: RunResults, user_scenario: str) -> Check:
    """The second resource is served as fast as the first: the house gives every resource
    the same path (README, "Adding a resource"). Each round runs the organizations'
    counterpart right after the user scenario (bench/run.py); the median of the rounds'
    ratios is judged."""
    connections = results.target_connections
    organization_scenario = ORGANIZATION_COUNTERPARTS[user_scenario]
    name = (
        f"{SCENARIO_TITLES[organization_scenario]} @{connections} conns: "
        f">= {ORGANIZATION_PARITY:.0%} of the users' {SCENARIO_TITLES[user_scenario]} req/s, "
        "round by round"
    )
    users = results.find(user_scenario, connections)
    organizations = results.find(organization_scenario, connections)
    if users is None or organizations is None:
        return Check("SKIP", name, "scenario not run")
    pairs = list(
        zip(users.rounds or (users,), organizations.rounds or (organizations,), strict=True)
    )
    shares = [pair[1].service.rps / pair[0].service.rps for pair in pairs]
    share = statistics.median(shares)
    rounds = ", ".join(
        f"{organization.service.rps:.0f}/{user.service.rps:.0f}" for user, organization in pairs
    )
    detail = f"median {share:.0%} over {len(pairs)} rounds (organization/user req/s: {rounds})"
    return Check("PASS" if share >= ORGANIZATION_PARITY else "FAIL", name, detail)


def _batch_check(results: RunResults) -> Check:
    name = f"batch of 1000 (password_hash): p50 <= {BATCH_P50_MS:g} ms, no errors"
    batch = results.batch
    if batch is None:
        return Check("SKIP", name, "scenario not run")
    passed = batch.p50_ms <= BATCH_P50_MS and batch.errors == 0
    detail = (
        f"p50 {batch.p50_ms:.1f} ms, p99 {batch.p99_ms:.1f} ms, max {batch.max_ms:.1f} ms "
        f"over {batch.requests} batches, {batch.errors} errors"
    )
    return Check("PASS" if passed else "FAIL", name, detail)


def _memory_check(results: RunResults) -> Check:
    tolerance = results.config.rss_tolerance_mib
    memory = results.memory.get("service")
    seconds = memory.seconds if memory else results.config.rss_seconds
    name = f"RSS per worker grows <= {tolerance:g} MiB over a {seconds} s GET-by-id run"
    if memory is None:
        return Check("SKIP", name, "scenario not run")
    growth = memory.max_growth_mib
    if growth is None:
        return Check("FAIL", name, "a worker disappeared during the run")
    detail = ", ".join(
        f"pid {worker.pid}: {worker.at_rest_mib:.1f} -> {worker.after_mib or 0:.1f} MiB"
        for worker in memory.workers
    )
    return Check("PASS" if growth <= tolerance else "FAIL", name, detail)


def _no_errors_check(results: RunResults) -> Check:
    name = "service answered every wrk request with 2xx/3xx"
    if not results.comparisons:
        return Check("SKIP", name, "no wrk scenario run")
    failing = [
        f"{comparison.title} @{comparison.connections}: {comparison.service.error_kinds}"
        for comparison in results.comparisons
        if comparison.service.errors
    ]
    return Check("FAIL" if failing else "PASS", name, "; ".join(failing) or "0 errors")


def starvation(result: WrkResult) -> list[str]:
    """Why a run left connections waiting, if it did: wrk's figures cannot show it, since its
    histogram only holds the requests that were answered."""
    reasons = []
    if result.connections_served < result.connections:
        reasons.append(f"connections not served: {result.connections_served}/{result.connections}")
    if result.accept_queue_nonempty_samples > ACCEPT_QUEUE_NONEMPTY_SAMPLES_ALLOWED:
        reasons.append(
            f"accept queue non-empty in {result.accept_queue_nonempty_samples} of "
            f"{result.socket_samples} samples (max {result.accept_queue_max})"
        )
    return reasons


def _connections_check(results: RunResults) -> Check:
    name = (
        "service answered every wrk connection, accept queue empty "
        f"(<= {ACCEPT_QUEUE_NONEMPTY_SAMPLES_ALLOWED} sample)"
    )
    if not results.comparisons:
        return Check("SKIP", name, "no wrk scenario run")
    failing = []
    for comparison in results.comparisons:
        # Every round counts: a starved round is not made good by a better one.
        for round_ in comparison.rounds or (comparison,):
            reasons = starvation(round_.service)
            if reasons:
                failing.append(
                    f"{comparison.title} @{comparison.connections}: {', '.join(reasons)}"
                )
    return Check("FAIL" if failing else "PASS", name, "; ".join(failing) or "all served")


def _statuses(load: WrkResult) -> dict[int, int]:
    return {int(code): count for code, count in (load.statuses or {}).items()}


def _overload_status_checks(overload: OverloadResult) -> list[Check]:
    statuses = _statuses(overload.load)
    tally = ", ".join(f"{code}: {count}" for code, count in sorted(statuses.items()))
    server_errors = sum(count for code, count in statuses.items() if code >= 500 and code != 503)
    name = f"overload @{OVERLOAD_CONNECTIONS} conns: no 5xx other than 503"
    checks = [Check("FAIL" if server_errors else "PASS", name, tally or "no responses")]
    refused = sum(count for code, count in statuses.items() if not 200 <= code < 300)
    with_retry_after = overload.load.retry_after_503 or 0
    passed = refused == statuses.get(503, 0) == with_retry_after
    name = f"overload @{OVERLOAD_CONNECTIONS} conns: every non-2xx is a 503 with Retry-After"
    detail = f"{refused} non-2xx, {statuses.get(503, 0)} 503, {with_retry_after} with Retry-After"
    return [*checks, Check("PASS" if passed else "FAIL", name, detail)]


def _probe_check(overload: OverloadResult) -> Check:
    name = (
        f"overload @{OVERLOAD_CONNECTIONS} conns: every GET /health on a new connection "
        f"answered 200 within {HEALTH_PROBE_MAX_MS:g} ms"
    )
    if not overload.probes:
        return Check("FAIL", name, "no probe was made")
    over = overload.probes_over(HEALTH_PROBE_MAX_MS)
    failures = overload.probe_failures
    detail = (
        f"{len(overload.probes)} probes, max {overload.probe_max_ms:.1f} ms, "
        f"{over} over {HEALTH_PROBE_MAX_MS:g} ms, {failures} not 200; "
        f"prober scheduling {overload.prober_scheduling}, "
        f"idle server max {overload.idle_probe_max_ms or 0:.1f} ms"
    )
    return Check("FAIL" if over or failures else "PASS", name, detail)


def _overload_connections_check(overload: OverloadResult) -> Check:
    """At this many connections the accept queue may fill for a moment while they open: only
    whether each connection was answered by the end (a 503 is an answer) is judged."""
    load = overload.load
    name = f"overload @{OVERLOAD_CONNECTIONS} conns: every connection answered by the end"
    detail = (
        f"{load.connections_served}/{load.connections} served, accept queue max "
        f"{load.accept_queue_max}, non-empty in {load.accept_queue_nonempty_samples} of "
        f"{load.socket_samples} samples"
    )
    passed = load.connections_served >= load.connections
    return Check("PASS" if passed else "FAIL", name, detail)


def _recovery_checks(overload: OverloadResult) -> list[Check]:
    recovery = overload.recovery
    name = f"GET by id @{RECOVERY_CONNECTIONS} right after overload: 0 errors, all served"
    reasons = [f"{recovery.errors} errors {recovery.error_kinds}"] if recovery.errors else []
    if recovery.connections_served < recovery.connections:
        reasons.append(
            f"connections not served: {recovery.connections_served}/{recovery.connections}"
        )
    detail = "; ".join(reasons) or f"{recovery.rps:.0f} req/s, {recovery.connections_summary}"
    checks = [Check("FAIL" if reasons else "PASS", name, detail)]
    name = (
        f"GET by id @{RECOVERY_CONNECTIONS} right after overload: "
        f">= {RECOVERY_RPS_SHARE:.0%} of the same run just before it"
    )
    before = overload.before.rps
    share = recovery.rps / before if before else 0.0
    detail = f"{recovery.rps:.0f} vs {before:.0f} req/s = {share:.0%}"
    return [*checks, Check("PASS" if share >= RECOVERY_RPS_SHARE else "FAIL", name, detail)]


def _overload_checks(results: RunResults) -> list[Check]:
    overload = results.overload
    if overload is None:
        return [Check("SKIP", f"overload @{OVERLOAD_CONNECTIONS} conns", "scenario not run")]
    return [
        *_overload_status_checks(overload),
        _probe_check(overload),
        _overload_connections_check(overload),
        *_recovery_checks(overload),
    ]


def _rounds(runs: PairedRuns) -> str:
    return ", ".join(
        f"{changed.rps:.0f}/{reference.rps:.0f}"
        for reference, changed in zip(runs.reference, runs.changed, strict=True)
    )


def _outbox_check(results: RunResults) -> Check:
    name = (
        f"POST create @64 with events written: >= {OUTBOX_SHARE:.0%} of the same with the "
        "outbox write skipped, round by round"
    )
    runs = results.outbox
    if runs is None:
        return Check("SKIP", name, "scenario not run")
    share = runs.median_share
    detail = f"median {share:.0%} (with/without req/s: {_rounds(runs)})"
    return Check("PASS" if share >= OUTBOX_SHARE else "FAIL", name, detail)


def _long_poll_checks(results: RunResults) -> list[Check]:
    share_name = (
        f"GET by id @64 beside {LONG_POLLS} waiting long polls: >= {LONG_POLL_SHARE:.0%} of "
        "GET by id alone, round by round"
    )
    held_name = f"{LONG_POLLS} waiting long polls hold no database connection"
    result = results.long_poll
    if result is None:
        return [Check("SKIP", share_name, "scenario not run"), Check("SKIP", held_name, "")]
    share = result.runs.median_share
    detail = f"median {share:.0%} (beside/alone req/s: {_rounds(result.runs)})"
    held = result.busy_backends_max == 0 and result.waiting >= LONG_POLLS
    held_detail = (
        f"{result.waiting} waiting, busy backends of the service's database at most "
        f"{result.busy_backends_max}, {result.answered_early} answered before their wait"
    )
    return [
        Check("PASS" if share >= LONG_POLL_SHARE else "FAIL", share_name, detail),
        Check("PASS" if held else "FAIL", held_name, held_detail),
    ]


def _pgbouncer_checks(results: RunResults) -> list[Check]:
    share_name = (
        f"GET by id @{POOL_MODE_CONNECTIONS} through PgBouncer in transaction mode: >= "
        f"{PGBOUNCER_SHARE:.0%} of direct, round by round"
    )
    served_name = "GET by id through PgBouncer: 0 errors, every connection served"
    runs = results.pgbouncer
    if runs is None:
        return [Check("SKIP", name, "scenario not run") for name in (share_name, served_name)]
    share = runs.median_share
    failures = [
        f"round {number}: {', '.join(reasons)}"
        for number, run in enumerate(runs.changed, 1)
        if (reasons := starvation(run) + ([f"errors {run.error_kinds}"] if run.errors else []))
    ]
    return [
        Check(
            "PASS" if share >= PGBOUNCER_SHARE else "FAIL",
            share_name,
            f"median {share:.0%} (through PgBouncer/direct req/s: {_rounds(runs)})",
        ),
        Check("FAIL" if failures else "PASS", served_name, "; ".join(failures) or "all served"),
    ]


def _relay_check(results: RunResults) -> Check:
    name = (
        "relay keeps up with POST create @64: its lag in seconds over the last "
        f"{RELAY_WINDOW_SAMPLES} samples <= the first {RELAY_WINDOW_SAMPLES}' "
        f"(or {RELAY_LAG_FLOOR_SECONDS:g} s)"
    )
    relay = results.relay
    if relay is None:
        return Check("SKIP", name, "scenario not run")
    samples = relay.samples
    if len(samples) < 2 * RELAY_WINDOW_SAMPLES:
        return Check("FAIL", name, f"only {len(samples)} samples")
    first = max(sample.seconds for sample in samples[:RELAY_WINDOW_SAMPLES])
    last = max(sample.seconds for sample in samples[-RELAY_WINDOW_SAMPLES:])
    published = samples[-1].published - samples[0].published
    span = samples[-1].at_seconds - samples[0].at_seconds
    detail = (
        f"lag {first:.2f} s early, {last:.2f} s late; published {published / span:.0f}/s while "
        f"creates ran at {relay.load.rps:.0f}/s"
    )
    passed = last <= max(first, RELAY_LAG_FLOOR_SECONDS)
    return Check("PASS" if passed else "FAIL", name, detail)


def _fair_share_checks(results: RunResults) -> list[Check]:
    share_name = (
        f"quiet client GET by id @{QUIET_CONNECTIONS} beside another's flood "
        f"@{FLOOD_CONNECTIONS}: >= {QUIET_SHARE:.0%} of its req/s alone, round by round"
    )
    served_name = (
        "quiet client beside the flood and beside its twin: 0 errors, every connection served"
    )
    flood_name = f"flooding client @{FLOOD_CONNECTIONS}: refused only with 429 or 503, no 5xx"
    fair = results.fair_share
    if fair is None:
        return [Check("SKIP", name, "scenario not run") for name in (share_name, served_name)] + [
            Check("SKIP", flood_name, "scenario not run")
        ]
    share = fair.quiet.median_share
    detail = (
        f"median {share:.0%} ({_rounds(fair.quiet)}); beside its twin, the most a fair split "
        f"leaves it: median {fair.beside_twin.median_share:.0%} ({_rounds(fair.beside_twin)})"
    )
    quiet_failures = [
        f"{beside} round {number}: {', '.join(reasons)}"
        for beside, runs in (("flood", fair.quiet), ("twin", fair.beside_twin))
        for number, run in enumerate(runs.changed, 1)
        if (reasons := starvation(run) + ([f"errors {run.error_kinds}"] if run.errors else []))
    ]
    tallies = [_statuses(flood) for flood in fair.floods]
    unexpected = [
        f"round {number}: {tally}"
        for number, tally in enumerate(tallies, 1)
        if set(tally) - {200, 429, 503}
    ]
    unexpected += [
        f"round {number}: errors {flood.error_kinds}"
        for number, flood in enumerate(fair.floods, 1)
        if set(flood.error_kinds) - {"status"}
    ]
    flood_detail = "; ".join(unexpected) or "; ".join(
        ", ".join(f"{code}: {count}" for code, count in sorted(tally.items())) for tally in tallies
    )
    return [
        Check("PASS" if share >= QUIET_SHARE else "FAIL", share_name, detail),
        Check(
            "FAIL" if quiet_failures else "PASS",
            served_name,
            "; ".join(quiet_failures) or "all served",
        ),
        Check("FAIL" if unexpected else "PASS", flood_name, flood_detail),
    ]


def _client_cpu_check(results: RunResults) -> Check:
    name = (
        "Python client: CPU per client.users.get(id) <= "
        f"{CLIENT_CPU_RATIO_MAX:g}x a bare httpx.Client.get"
    )
    measured = results.client_cpu
    if measured is None:
        return Check("SKIP", name, "scenario not run")
    detail = (
        f"{measured.client_median_us:.1f} vs {measured.bare_median_us:.1f} us = "
        f"{measured.ratio:.2f}x"
    )
    return Check("PASS" if measured.ratio <= CLIENT_CPU_RATIO_MAX else "FAIL", name, detail)


def evaluate(results: RunResults) -> list[Check]:
    return [
        *_by_id_check(results),
        _ratio_check(results, "by_username", OTHER_READS_RATIO),
        _ratio_check(results, "list", OTHER_READS_RATIO),
        _ratio_check(results, "create", CREATE_RATIO),
        *(_organization_parity_check(results, user) for user in ORGANIZATION_COUNTERPARTS),
        _batch_check(results),
        _memory_check(results),
        _no_errors_check(results),
        _connections_check(results),
        *_overload_checks(results),
        _outbox_check(results),
        *_long_poll_checks(results),
        *_pgbouncer_checks(results),
        _relay_check(results),
        *_fair_share_checks(results),
        _client_cpu_check(results),
    ]
