"""Process-wide logging: JSON lines for machines, readable lines in a terminal, never blocking.

Every line goes to one writer thread that writes in batches: the event loop only formats a
line and appends it, so a slow stderr (a full pipe, a stalled log shipper) never stalls
requests, and a busy service pays one write per batch instead of one per line.

Access lines skip `logging`'s records altogether: at thousands of requests per second a
LogRecord, its handler chain and a formatter cost more than a whole cached read does
(bench/README.md). They still obey the `db_postgres_service.access` logger's level.
"""

import atexit
import collections
import datetime
import logging
import sys
import threading
import time
from typing import Any, Literal, TextIO

import orjson

LogFormat = Literal["auto", "json", "text"]
ACCESS_LOGGER = "db_postgres_service.access"
# Attributes the service puts on records with `extra=`; both formatters show them.
CONTEXT_FIELDS = (
    "request_id",
    "client",
    "method",
    "route",
    "status",
    "duration_ms",
    "event",
    "pid",
    "workers",
    "address",
)
# Lines waiting for a stalled stream beyond this are dropped (and counted), not buffered.
MAX_PENDING_LINES = 100_000
_FLUSH_SECONDS = 0.05


def _context(record: logging.LogRecord) -> dict[str, Any]:
    return {field: getattr(record, field) for field in CONTEXT_FIELDS if hasattr(record, field)}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        moment = datetime.datetime.fromtimestamp(record.created, tz=datetime.UTC)
        payload: dict[str, Any] = {
            "time": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **_context(record),
        }
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(payload, default=str).decode()


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s %(message)s", "%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        context = " ".join(f"{key}={value}" for key, value in _context(record).items())
        line = super().format(record)
        return f"{line} {context}" if context else line


class LineWriter:
    """Owns the output stream: any thread appends lines, one thread writes them in batches."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._pending: collections.deque[str] = collections.deque()
        self._dropped = 0
        # Only the writer thread and an explicit flush drain; the lock keeps batches in order.
        self._draining = threading.Lock()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="log-writer", daemon=True)
        self._thread.start()

    def write(self, line: str) -> None:
        if len(self._pending) >= MAX_PENDING_LINES:
            self._dropped += 1
            return
        self._pending.append(line)

    def flush(self) -> None:
        """Write what is pending now, from the calling thread (tests, shutdown)."""
        self._drain()

    def close(self) -> None:
        self._stopping.set()
        self._thread.join()
        self._drain()

    def _run(self) -> None:
        while not self._stopping.wait(_FLUSH_SECONDS):
            self._drain()

    def _drain(self) -> None:
        with self._draining:
            pending = self._pending
            # popleft is atomic, so lines appended meanwhile simply wait for the next batch.
            lines = [pending.popleft() for _ in range(len(pending))]
            if self._dropped:
                dropped, self._dropped = self._dropped, 0
                lines.append(f"{dropped} log lines dropped: the log stream did not keep up")
            if not lines:
                return
            try:
                self._stream.write("\n".join(lines) + "\n")
                self._stream.flush()
            except (OSError, ValueError):
                pass  # The stream is gone (closed stderr): there is nowhere left to say so.


class _LineHandler(logging.Handler):
    """Formats records in the logging thread (they are rare) and hands the line on."""

    def __init__(self, writer: LineWriter) -> None:
        super().__init__()
        self.writer = writer

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.writer.write(self.format(record))
        except Exception:
            self.handleError(record)


class _UtcClock:
    """RFC 3339 UTC timestamps with milliseconds, re-rendering the date only once a second."""

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def now(self) -> str:
        now = time.time()
        second = int(now)
        if second != self._second:
            self._second = second
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self._prefix}.{int((now - second) * 1000):03d}Z"


class AccessLog:
    """One line per HTTP request, in the format of the other lines, written without a record."""

    def __init__(self) -> None:
        self._logger = logging.getLogger(ACCESS_LOGGER)
        self._writer: LineWriter | None = None
        self._as_json = True
        self._clock = _UtcClock()

    def configure(self, writer: LineWriter | None, *, as_json: bool) -> None:
        self._writer = writer
        self._as_json = as_json

    def write(
        self,
        *,
        request_id: str | None,
        client: str | None,
        method: str,
        route: str,
        status: int,
        duration_ms: float,
    ) -> None:
        writer = self._writer
        if writer is None or not self._logger.isEnabledFor(logging.INFO):
            return
        message = f"{method} {route} {status}"
        if self._as_json:
            line = orjson.dumps(
                {
                    "time": self._clock.now(),
                    "level": "info",
                    "logger": ACCESS_LOGGER,
                    "message": message,
                    "request_id": request_id,
                    "client": client,
                    "method": method,
                    "route": route,
                    "status": status,
                    "duration_ms": duration_ms,
                }
            ).decode()
        else:
            clock = time.strftime("%H:%M:%S")
            line = (
                f"{clock} INFO    {ACCESS_LOGGER} {message} request_id={request_id} "
                f"client={client} method={method} route={route} status={status} "
                f"duration_ms={duration_ms}"
            )
        writer.write(line)


access_log = AccessLog()
_writer: LineWriter | None = None
_handler: logging.Handler | None = None
_stopped_at_exit = False


def configure_logging(
    level: str, log_format: LogFormat = "auto", stream: TextIO | None = None
) -> None:
    """(Re)install the service's one root handler; JSON unless the stream is a terminal."""
    global _writer, _handler, _stopped_at_exit
    stop_logging()
    if not _stopped_at_exit:
        # The writer thread is a daemon: a short command (`migrate`) would exit before its last
        # batch is written.
        atexit.register(stop_logging)
        _stopped_at_exit = True
    stream = stream if stream is not None else sys.stderr
    as_json = log_format == "json" or (log_format == "auto" and not stream.isatty())
    _writer = LineWriter(stream)
    _handler = _LineHandler(_writer)
    _handler.setFormatter(JsonFormatter() if as_json else TextFormatter())
    root = logging.getLogger()
    root.addHandler(_handler)
    root.setLevel(level)
    access_log.configure(_writer, as_json=as_json)


def flush_logs() -> None:
    if _writer is not None:
        _writer.flush()


def stop_logging() -> None:
    """Write what is pending and remove the handler (at shutdown, or before reconfiguring)."""
    global _writer, _handler
    access_log.configure(None, as_json=True)
    if _handler is not None:
        logging.getLogger().removeHandler(_handler)
        _handler = None
    if _writer is not None:
        _writer.close()
        _writer = None
