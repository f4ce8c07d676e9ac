"""A PNG of the run: req/s and p99 per scenario and connection count, service vs baseline."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.axes import Axes

from bench.harness.results import Comparison

_SERVICE = "#1f77b4"
_BASELINE = "#aaaaaa"
_WIDTH = 0.38
_SHORT_TITLES = {
    "by_id": "GET by id",
    "org_by_id": "GET org\nby id",
    "by_username": "GET by\nusername",
    "list": "list\n(limit 50)",
    "org_list": "org list\n(limit 50)",
    "members": "org\nmembers",
    "patch": "PATCH",
    "create": "POST\ncreate",
    "org_create": "POST org\ncreate",
}


def _bars(
    axes: Axes,
    labels: list[str],
    service: list[float],
    baseline: list[float | None],
) -> None:
    positions = list(range(len(labels)))
    drawn = axes.bar(
        [x - _WIDTH / 2 for x in positions], service, _WIDTH, label="service", color=_SERVICE
    )
    axes.bar_label(drawn, fmt="%.0f", fontsize=7, padding=2)
    if any(value is not None for value in baseline):
        reference = axes.bar(
            [x + _WIDTH / 2 for x in positions],
            [value or 0.0 for value in baseline],
            _WIDTH,
            label="baseline",
            color=_BASELINE,
        )
        axes.bar_label(reference, fmt="%.0f", fontsize=7, padding=2)
    axes.set_xticks(positions)
    axes.set_xticklabels(labels, fontsize=8)
    axes.grid(axis="y", alpha=0.3)
    axes.legend(fontsize=8)


def _labels(comparisons: list[Comparison], ratio: str) -> list[str]:
    labels = []
    for comparison in comparisons:
        value = comparison.rps_ratio if ratio == "rps" else comparison.p99_ratio
        suffix = "" if value is None else f"\n{value:.2f}x"
        title = _SHORT_TITLES.get(comparison.scenario, comparison.title)
        labels.append(f"{title}\n@{comparison.connections}{suffix}")
    return labels


def write_chart(comparisons: list[Comparison], path: Path, subtitle: str) -> bool:
    """Draw the chart; without wrk scenarios remove the previous one and return False."""
    if not comparisons:
        path.unlink(missing_ok=True)
        return False
    figure, (throughput, tail) = plt.subplots(
        2, 1, figsize=(max(8.0, 1.3 * len(comparisons)), 8.5), constrained_layout=True
    )
    _bars(
        throughput,
        _labels(comparisons, "rps"),
        [comparison.service.rps for comparison in comparisons],
        [comparison.baseline.rps if comparison.baseline else None for comparison in comparisons],
    )
    throughput.set_ylabel("requests per second")
    figure.suptitle(subtitle, fontsize=9)
    throughput.set_title("Throughput, higher is better (ratio = service/baseline)")
    _bars(
        tail,
        _labels(comparisons, "p99"),
        [comparison.service.p99_ms for comparison in comparisons],
        [comparison.baseline.p99_ms if comparison.baseline else None for comparison in comparisons],
    )
    tail.set_ylabel("p99 latency (ms)")
    tail.set_title("p99 latency, lower is better (ratio = service/baseline)")
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return True
