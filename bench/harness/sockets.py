"""Connection accounting with `ss` while wrk runs: which of wrk's connections were answered.

wrk's histogram only holds answered requests. A connection the server never accepts (it sits
in the listen socket's accept queue) sends one request, waits, and appears nowhere in wrk's
figures: not as a latency, often not even as an error. The kernel still sees it: the listen
socket's Recv-Q is the accept queue's depth, and each of wrk's sockets (wrk runs on this
machine, so the sockets whose destination port is the server's are wrk's ends) counts the
bytes it received. A socket that never received a byte was never answered.
"""

import re
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass, field, replace

SAMPLE_SECONDS = 0.5
# A connection whose received bytes did not grow over this long, while wrk was still sending,
# is stalled (informational: a slow answer can legitimately take this long).
STALL_SECONDS = 2.0
SS_TIMEOUT_SECONDS = 5.0
_OWNER_PID = re.compile(r"pid=(\d+)")


@dataclass(frozen=True)
class Sample:
    """One look at the server's port: accept-queue depth and wrk's sockets' received bytes."""

    elapsed: float
    accept_queue: int
    received: dict[int, int]


@dataclass(frozen=True)
class ConnectionAccount:
    """What the samples of one wrk run say about its connections (see the module's doc)."""

    socket_samples: int
    connections_seen: int
    connections_served: int
    connections_stalled: int
    accept_queue_max: int
    accept_queue_nonempty_samples: int


def _ss(arguments: list[str]) -> str:
    try:
        result = subprocess.run(  # noqa: S603 - ss with arguments built here
            [shutil.which("ss") or "ss", *arguments],
            capture_output=True,
            text=True,
            timeout=SS_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return result.stdout


def parse_accept_queue(output: str) -> int:
    """Sum of Recv-Q over the LISTEN sockets in `ss -Hltn` output.

    A line reads `LISTEN 3 1024 127.0.0.1:8000 0.0.0.0:*`: for a listening socket Recv-Q is
    the number of connections waiting to be accepted (Send-Q is the backlog). Servers that
    listen once per worker (SO_REUSEPORT) have several sockets; their queues add up.
    """
    depth = 0
    for line in output.splitlines():
        fields = line.split()
        if len(fields) >= 3 and fields[0] == "LISTEN" and fields[1].isdigit():
            depth += int(fields[1])
    return depth


def _local_port(address: str) -> int | None:
    port = address.rsplit(":", 1)[-1]
    return int(port) if port.isdigit() else None


def _bytes_received(info: str) -> int:
    for item in info.split():
        if item.startswith("bytes_received:"):
            return int(item.removeprefix("bytes_received:"))
    # ss leaves the counter out while it is zero.
    return 0


def _owned_by(line: str, pid: int | None) -> bool:
    """Whether a socket line's `users:((...))` names `pid`; a line without one (ss could not
    tell) is kept."""
    owners = _OWNER_PID.findall(line)
    return pid is None or not owners or str(pid) in owners


def parse_client_sockets(output: str, pid: int | None = None) -> dict[int, int]:
    """Local port -> bytes received, from `ss -Htinp state established` output, keeping only
    the sockets of process `pid` (wrk: not, say, a health probe to the same port).

    Each socket is a line `0 0 127.0.0.1:35250 127.0.0.1:8000 users:(("wrk",pid=6389,fd=5))`
    (Recv-Q, Send-Q, local, peer, owner; no State column once a state is filtered on) followed
    by an indented line of TCP info such as `bbr wscale:10,10 ... bytes_received:310 ...`.
    """
    received: dict[int, int] = {}
    port: int | None = None
    for line in output.splitlines():
        if not line.strip():
            continue
        if not line[0].isspace():
            fields = line.split()
            port = _local_port(fields[2]) if len(fields) >= 4 and _owned_by(line, pid) else None
            if port is not None:
                received[port] = 0
        elif port is not None:
            received[port] = max(received[port], _bytes_received(line))
    return received


def take_sample(port: int, pid: int | None) -> Sample:
    """The server's accept queue on `port`, and the sockets open to it: only those of process
    `pid` when given. Finding sockets' owners (`-p`) walks every process's open files, a
    burst of CPU twice a second that is kept out of the runs whose tails are judged."""
    listening = _ss(["-Hltn", f"sport = :{port}"])
    options = "-Htin" if pid is None else "-Htinp"
    clients = _ss([options, "state", "established", f"dport = :{port}"])
    return Sample(0.0, parse_accept_queue(listening), parse_client_sockets(clients, pid))


def _stalled(running: list[Sample]) -> int:
    """Sockets of the last sample taken while wrk still sent whose received bytes did not
    grow since the sample STALL_SECONDS before it (a socket new since then counts from 0)."""
    if not running:
        return 0
    last = running[-1]
    earlier = [sample for sample in running if sample.elapsed <= last.elapsed - STALL_SECONDS]
    before = earlier[-1].received if earlier else {}
    return sum(1 for port, received in last.received.items() if received <= before.get(port, 0))


def account(samples: list[Sample], seconds: float) -> ConnectionAccount:
    """Seen and served from the last sample that was complete before wrk's duration ended.

    wrk closes no socket itself: the kernel closes them all as the process exits, and an ss
    dump that overlaps that exit sees only part of them (seen: 819 of 1024) although wrk had
    not yet been reaped. A sample completed within the duration sees every socket open.
    """
    running = [sample for sample in samples if sample.elapsed < seconds]
    last = running[-1].received if running else {}
    queues = [sample.accept_queue for sample in samples]
    return ConnectionAccount(
        socket_samples=len(samples),
        connections_seen=len(last),
        connections_served=sum(1 for received in last.values() if received > 0),
        connections_stalled=_stalled(running),
        accept_queue_max=max(queues, default=0),
        accept_queue_nonempty_samples=sum(1 for depth in queues if depth > 0),
    )


@dataclass
class ConnectionSampler:
    """A thread sampling `port` every SAMPLE_SECONDS until `process` (wrk) exits.

    A sample is kept only if wrk was still running once it was taken, and account() judges
    the connections from the last one completed within wrk's duration (see there).
    """

    port: int
    process: subprocess.Popen[str]
    only_owner: bool = False
    samples: list[Sample] = field(default_factory=list)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="ss-sampler", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        started = time.monotonic()
        tick = started
        while self.process.poll() is None:
            sample = take_sample(self.port, self.process.pid if self.only_owner else None)
            if self.process.poll() is None:
                # Stamped when complete: account() judges from samples done within the run.
                self.samples.append(replace(sample, elapsed=time.monotonic() - started))
            tick += SAMPLE_SECONDS
            time.sleep(max(0.0, tick - time.monotonic()))

    def finish(self, seconds: float) -> ConnectionAccount:
        """Wait for the thread (wrk has exited) and account for the run of `seconds`."""
        if self._thread is not None:
            self._thread.join()
        return account(self.samples, seconds)
