"""Process-level tuning of the Python runtime for a long-running server."""

import ctypes
import gc
import os
import signal
import sys
from collections.abc import Callable

_PR_SET_PDEATHSIG = 1
# Set by `serve` for its workers: the process id of the server process that forks them.
SERVER_PID_VARIABLE = "DPS_SERVER_PID"


def settle_garbage_collector() -> None:
    """Exempt everything built at startup from future collections.

    The application (FastAPI's routes and models, SQLAlchemy's metadata, pydantic's
    validators) is hundreds of thousands of objects that live as long as the process. Left in
    the collector's oldest generation, every full collection walks them all, a pause that
    showed as GET p99 of 100 ms at 64 connections; frozen, they are never walked again
    (bench/README.md). Call once, when startup is complete.
    """
    gc.collect()
    gc.freeze()


def parent_death_signal_setter(signum: int) -> Callable[[], None]:
    """A function that asks the kernel to send `signum` to the calling process when its
    parent dies (Linux; elsewhere it does nothing).

    Resolved before a fork, so that a child can call it without loading a library.
    """
    if not sys.platform.startswith("linux"):
        return lambda: None
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong]
    prctl.restype = ctypes.c_int

    def set_parent_death_signal() -> None:
        if prctl(_PR_SET_PDEATHSIG, signum) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"prctl(PR_SET_PDEATHSIG): {os.strerror(errno)}")

    return set_parent_death_signal


def stop_with_server() -> None:
    """In a worker of `serve`: end at once when the server process dies, however it dies.

    Without this a server killed outright (kill -9, or a supervisor giving up on a slow
    shutdown) left its workers serving on the port, orphaned. SIGKILL, not a graceful SIGTERM:
    a SIGTERM that reached a worker still in its startup left it hung for good inside granian's
    signal handler (seen under the test suite's load); the requests such a worker had in flight
    end with their connections and roll back.
    """
    server_pid = os.environ.get(SERVER_PID_VARIABLE)
    if server_pid is None:
        return
    parent_death_signal_setter(signal.SIGKILL)()
    # Had the server died before prctl, no signal would ever come.
    if os.getppid() != int(server_pid):
        os.kill(os.getpid(), signal.SIGKILL)
