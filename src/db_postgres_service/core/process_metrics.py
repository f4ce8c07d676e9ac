"""Metric values that several worker processes share: imported before any metric is defined.

With PROMETHEUS_MULTIPROC_DIR set (the `serve` command sets it for its workers), every
process writes its samples to files there and a scrape of any worker sums them all.
"""

import os

from prometheus_client import values

from db_postgres_service.core.config import METRICS_DIR_VARIABLE


class _ProcessId:
    """The process id, read once per process instead of once per increment.

    In multiprocess mode every increment asks for the process id to notice a fork, and
    os.getpid() is a system call: three per request were 8 % of a GET by id
    (bench/README.md). prometheus_client takes the function that answers as a parameter.
    """

    def __init__(self) -> None:
        self.value = os.getpid()
        os.register_at_fork(after_in_child=self._forked)

    def _forked(self) -> None:
        self.value = os.getpid()

    def __call__(self) -> int:
        return self.value


if os.environ.get(METRICS_DIR_VARIABLE):
    # Before any metric has a value: every value must come from the same class.
    values.ValueClass = values.MultiProcessValue(_ProcessId())  # type: ignore[no-untyped-call]
