"""`python -m bench.harness.prober URL [URL ...]`: a process that sends `GET` to each URL on a
new connection every PROBE_INTERVAL_SECONDS until its standard input closes, and prints one
JSON line per probe: `{"url": ..., "elapsed_ms": ..., "status": ..., "error": ...}`.

It runs apart from the benchmark (whose threads sample sockets and share one GIL) and asks
for real-time scheduling (SCHED_FIFO) when it may: on this machine's two cores, under the
flood, a normal-priority client waited up to 170 ms for a CPU between its own `connect()` and
`send()` (an idle HTTP server probed the same way showed it), which measured the prober, not
the server. Its first line says which scheduling it got: `{"scheduling": "fifo"|"normal"}`.
"""

import json
import os
import socket
import sys
import threading
import time
from urllib.parse import urlsplit

PROBE_INTERVAL_SECONDS = 0.5
PROBE_TIMEOUT_SECONDS = 1.0
# Low among real-time priorities: above every normal process, below the kernel's own threads.
FIFO_PRIORITY = 10


def _real_time() -> bool:
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(FIFO_PRIORITY))
    except (PermissionError, AttributeError, OSError):
        return False
    return True


def get_status(url: str) -> int:
    """The status of `GET url` on a new connection that the server closes after answering,
    over a plain socket: an HTTP client object per probe (httpx builds an SSL context) costs
    20-40 ms of CPU before it sends a byte."""
    address = urlsplit(url)
    host, port = address.hostname or "127.0.0.1", address.port or 80
    request = f"GET {address.path or '/'} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    with socket.create_connection((host, port), timeout=PROBE_TIMEOUT_SECONDS) as connection:
        connection.sendall(request.encode())
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    status_line = answer.split(b"\r\n", 1)[0].split()
    if len(status_line) < 2 or not status_line[1].isdigit():
        raise ValueError(f"not an HTTP answer: {answer[:80]!r}")
    return int(status_line[1])


def probe(url: str) -> dict[str, object]:
    started = time.perf_counter()
    status: int | None = None
    error: str | None = None
    try:
        status = get_status(url)
    except (OSError, ValueError) as failure:
        error = type(failure).__name__
    elapsed_ms = round((time.perf_counter() - started) * 1000, 2)
    return {"url": url, "elapsed_ms": elapsed_ms, "status": status, "error": error}


def _say(line: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(line) + "\n")
    sys.stdout.flush()


def main(urls: list[str]) -> None:
    _say({"scheduling": "fifo" if _real_time() else "normal"})
    stop = threading.Event()
    # The parent ends the run by closing our standard input.
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    tick = time.monotonic()
    while not stop.is_set():
        for url in urls:
            _say(probe(url))
        tick += PROBE_INTERVAL_SECONDS
        stop.wait(max(0.0, tick - time.monotonic()))


if __name__ == "__main__":
    main(sys.argv[1:])
