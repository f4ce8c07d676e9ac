"""The run as a table on stdout, and as JSON and a PNG chart under bench/results/."""

import json
from collections.abc import Iterable
from pathlib import Path

from bench.harness.load import WrkResult
from bench.harness.memory import MemoryResult
from bench.harness.overload import HEALTH_PROBE_MAX_MS, OverloadResult
from bench.harness.results import Check, Comparison, RunResults

_TARGET_HEADER = (
    f"{'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6} {'served':>7} {'queue max':>9}"
)
_HEADER = (
    f"{'scenario':<28} {'conns':>5} | {_TARGET_HEADER} | {_TARGET_HEADER} "
    f"| {'req/s':>7} {'p50':>6} {'p99':>6}"
)
_WIDTH = len(_TARGET_HEADER)
_GROUPS = (
    f"{'':<28} {'':>5} | {'service':<{_WIDTH}} | {'baseline':<{_WIDTH}} "
    f"| {'service / baseline':<21}"
)


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def _cells(result: WrkResult | None) -> str:
    if result is None:
        return f"{'-':>7} {'-':>7} {'-':>7} {'-':>6} {'-':>7} {'-':>9}"
    served = f"{result.connections_served}/{result.connections}"
    return (
        f"{result.rps:>7.0f} {result.p50_ms:>7.2f} {result.p99_ms:>7.1f} {result.errors:>6} "
        f"{served:>7} {result.accept_queue_max:>9}"
    )


def _row(comparison: Comparison) -> str:
    return (
        f"{comparison.title:<28} {comparison.connections:>5} | {_cells(comparison.service)} "
        f"| {_cells(comparison.baseline)} "
        f"| {_ratio(comparison.rps_ratio):>7} {_ratio(comparison.p50_ratio):>6} "
        f"{_ratio(comparison.p99_ratio):>6}"
    )


def table(comparisons: Iterable[Comparison]) -> list[str]:
    rows = [_row(comparison) for comparison in comparisons]
    if not rows:
        return []
    rule = "-" * len(_HEADER)
    return [
        "service vs baseline, measured back to back in this run "
        "(ratio of req/s: higher is better; of latencies: lower is better)",
        rule,
        _GROUPS,
        _HEADER,
        rule,
        *rows,
        rule,
    ]


def _pgbench_lines(results: RunResults) -> list[str]:
    pgbench = results.pgbench
    if pgbench is None:
        return []
    line = (
        f"pgbench ceiling (GET-by-id query, {pgbench.clients} clients, prepared): "
        f"{pgbench.tps:.0f} tps"
    )
    if pgbench.latency_ms is not None:
        line += f", latency avg {pgbench.latency_ms:.2f} ms"
    by_id = results.find("by_id", results.target_connections)
    if by_id is not None and pgbench.tps:
        line += (
            f"; GET by id @{by_id.connections} reaches {by_id.service.rps / pgbench.tps:.0%} of it"
        )
    return [line]


def _batch_lines(results: RunResults) -> list[str]:
    batch = results.batch
    if batch is None:
        return []
    line = (
        f"batch of {batch.size} (password_hash), {batch.requests} sequential requests: "
        f"p50 {batch.p50_ms:.1f} ms, p99 {batch.p99_ms:.1f} ms, max {batch.max_ms:.1f} ms, "
        f"{batch.errors} errors"
    )
    create = results.find("create", results.target_connections)
    if create is not None and create.baseline is not None and create.baseline.rps:
        equivalent_ms = batch.size / create.baseline.rps * 1000
        line += (
            f"; the baseline (no batch route) needs {equivalent_ms:.0f} ms for {batch.size} "
            f"creates at its measured @{create.connections} rate = "
            f"{equivalent_ms / batch.p50_ms:.1f}x"
        )
    return [line]


def _memory_line(memory: MemoryResult) -> str:
    workers = ", ".join(
        f"pid {worker.pid} {worker.at_rest_mib:.1f} -> "
        + ("gone" if worker.after_mib is None else f"{worker.after_mib:.1f} MiB")
        + ("" if worker.growth_mib is None else f" ({worker.growth_mib:+.1f})")
        for worker in memory.workers
    )
    return (
        f"RSS {memory.target:<8} at rest -> after {memory.seconds} s GET by id "
        f"@{memory.connections} ({memory.load.rps:.0f} req/s, {memory.load.errors} errors, "
        f"{memory.load.connections_summary}): "
        f"{workers}"
    )


def _memory_lines(results: RunResults) -> list[str]:
    lines = [_memory_line(memory) for memory in results.memory.values()]
    service = results.memory.get("service")
    baseline = results.memory.get("baseline")
    if service and baseline and service.total_after_mib and baseline.total_after_mib:
        lines.append(
            f"RSS of all workers after the run: service {service.total_after_mib:.0f} MiB, "
            f"baseline {baseline.total_after_mib:.0f} MiB = "
            f"{service.total_after_mib / baseline.total_after_mib:.2f}x"
        )
    return lines


def _probes(overload: OverloadResult) -> str:
    if not overload.probes:
        return "no GET /health probe made"
    return (
        f"GET /health on a new connection every 0.5 s: {len(overload.probes)} probes, "
        f"max {overload.probe_max_ms:.1f} ms, "
        f"{overload.probes_over(HEALTH_PROBE_MAX_MS)} over {HEALTH_PROBE_MAX_MS:g} ms, "
        f"{overload.probe_failures} not 200 (prober scheduling: {overload.prober_scheduling}; "
        f"an idle server probed beside it: max {overload.idle_probe_max_ms or 0:.1f} ms)"
    )


def _overload_lines(results: RunResults) -> list[str]:
    overload = results.overload
    if overload is None:
        return []
    load, recovery = overload.load, overload.recovery
    lines = [
        f"overload: GET by id @{load.connections} for {overload.seconds} s (service): "
        f"{load.rps:.0f} req/s, p99 {load.p99_ms:.1f} ms, {load.statuses_summary}, "
        f"errors {load.error_kinds or 0}, {load.connections_summary}",
        f"  {_probes(overload)}",
        f"  right after, GET by id @{recovery.connections} for {recovery.seconds:.0f} s: "
        f"{recovery.rps:.0f} req/s, p99 {recovery.p99_ms:.1f} ms, {recovery.errors} errors, "
        f"{recovery.connections_summary}",
    ]
    before = overload.before
    if before.rps:
        lines[-1] += f" ({recovery.rps / before.rps:.0%} of the {before.rps:.0f} req/s just before)"
    return lines


def _feed_lines(results: RunResults) -> list[str]:
    lines = []
    if results.outbox is not None:
        shares = ", ".join(f"{share:.0%}" for share in results.outbox.shares)
        lines.append(f"create @64 with events written / with them skipped, by round: {shares}")
    if results.long_poll is not None:
        poll = results.long_poll
        shares = ", ".join(f"{share:.0%}" for share in poll.runs.shares)
        lines.append(
            f"GET by id @64 beside {poll.waiting} waiting long polls / alone, by round: {shares}; "
            f"busy database backends while they waited: {poll.busy_backends_max}"
        )
    if results.relay is not None:
        relay = results.relay
        lag = ", ".join(f"{sample.events:.0f}/{sample.seconds:g}s" for sample in relay.samples)
        lines.append(
            f"relay: backlog of {relay.backlog:.0f} events published in "
            f"{relay.catch_up_seconds:.0f} s; then POST create @64 at {relay.load.rps:.0f} req/s "
            f"for {relay.load.seconds:.0f} s, lag (events/seconds) every 5 s: {lag}"
        )
    return lines


def _fair_share_lines(results: RunResults) -> list[str]:
    fair = results.fair_share
    if fair is None:
        return []
    shares = ", ".join(f"{share:.0%}" for share in fair.quiet.shares)
    twin_shares = ", ".join(f"{share:.0%}" for share in fair.beside_twin.shares)
    floods = "; ".join(flood.statuses_summary for flood in fair.floods)
    return [
        f"quiet client @16 beside a flood @512 / alone, by round: {shares}; the flood: {floods}",
        f"quiet client @16 beside its twin @16 / alone (the most a fair split leaves it), by "
        f"round: {twin_shares}",
    ]


def _client_cpu_lines(results: RunResults) -> list[str]:
    measured = results.client_cpu
    if measured is None:
        return []
    return [
        f"Python client, CPU per call in-process: client.users.get(id) "
        f"{measured.client_median_us:.1f} us, bare httpx.Client.get "
        f"{measured.bare_median_us:.1f} us ({measured.ratio:.2f}x)"
    ]


def check_lines(checks: Iterable[Check]) -> list[str]:
    return [f"{check.verdict} {check.name} ({check.detail})" for check in checks]


def render(results: RunResults, checks: list[Check]) -> str:
    sections = [
        table(results.comparisons),
        _pgbench_lines(results),
        _batch_lines(results),
        _memory_lines(results),
        _overload_lines(results),
        _feed_lines(results),
        _fair_share_lines(results),
        _client_cpu_lines(results),
        check_lines(checks),
    ]
    return "\n\n".join("\n".join(section) for section in sections if section)


def write_json(results: RunResults, checks: list[Check], paths: Iterable[Path]) -> None:
    text = json.dumps(results.as_json(checks), indent=2) + "\n"
    for path in paths:
        path.write_text(text)
