"""CPU per call of the Python client, in-process, on its own (`make bench` runs the same as
its `client_cpu` scenario): bench/harness/client_cpu.py says what is measured.

Run: .venv/bin/python bench/cpu_per_client_call.py (after `make test` or `make bench` has
installed the client).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness.client_cpu import measure_client_cpu
from bench.harness.results import CLIENT_CPU_RATIO_MAX


def _rounds(values: tuple[float, ...]) -> str:
    return ", ".join(f"{value:.1f}" for value in values)


def main() -> None:
    result = measure_client_cpu()
    print(
        f"bare httpx.Client.get:   {result.bare_median_us:7.1f} us CPU per call "
        f"(rounds: {_rounds(result.bare_us)})"
    )
    print(
        f"client.users.get(id):    {result.client_median_us:7.1f} us CPU per call "
        f"(rounds: {_rounds(result.client_us)})"
    )
    print(f"ratio: {result.ratio:.2f}x (target <= {CLIENT_CPU_RATIO_MAX:g}x)")


if __name__ == "__main__":
    main()
