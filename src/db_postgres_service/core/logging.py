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
import logging
import os
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
    "count",
    "exchange",
    "cursor",
    "lag_events",
    "lag_seconds",
)
# Lines waiting for a stalled stream beyond this are dropped (and counted), not buffered.
MAX_PENDING_LINES = 100_000
_FLUSH_SECONDS = 0.05


def _context(record: logging.LogRecord) -> dict[str, Any]:
    return {field: getattr(record, field) for field in CONTEXT_FIELDS if hasattr(record, field)}


class _UtcClock:
    """RFC 3339 UTC timestamps with milliseconds, re-rendering the date only once a second."""

    def __init__(self) -> None:
        # One attribute, replaced whole: a thread reads a second and its text that belong.
        self._cached = (-1, "")

    def text(self, moment: float) -> str:
        second = int(moment)
        cached_second, prefix = self._cached
        if second != cached_second:
            prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._cached = (second, prefix)
        return f"{prefix}.{int((moment - second) * 1000):03d}Z"


_clock = _UtcClock()


def render_line(
    *,
    as_json: bool,
    moment: float,
    level: str,
    logger: str,
    message: str,
    context: dict[str, Any],
    exception: str | None = None,
) -> str:
    """The one place a log line is rendered, for records and access lines alike: a JSON
    object, or `HH:MM:SS LEVEL logger message key=value ...` for a terminal."""
    if as_json:
        payload: dict[str, Any] = {
            "time": _clock.text(moment),
            "level": level.lower(),
            "logger": logger,
            "message": message,
            **context,
        }
        if exception is not None:
            payload["exception"] = exception
        return orjson.dumps(payload, default=str).decode()
    fields = " ".join(f"{key}={value}" for key, value in context.items())
    clock = time.strftime("%H:%M:%S", time.localtime(moment))
    line = f"{clock} {level.upper():<7} {logger} {message}"
    line = f"{line} {fields}" if fields else line
    return f"{line}\n{exception}" if exception is not None else line


class RecordFormatter(logging.Formatter):
    """A log record as render_line writes it."""

    def __init__(self, *, as_json: bool) -> None:
        super().__init__()
        self.as_json = as_json

    def format(self, record: logging.LogRecord) -> str:
        return render_line(
            as_json=self.as_json,
            moment=record.created,
            level=record.levelname,
            logger=record.name,
            message=record.getMessage(),
            context=_context(record),
            exception=self.formatException(record.exc_info) if record.exc_info else None,
        )


class LineWriter:
    """Owns the output stream: any thread appends lines, one thread writes them in batches."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._pending: collections.deque[str] = collections.deque()
        # Counted from any thread. CPython 3.11's GIL happens to make `+= 1` on it atomic; the
        # lock makes it so by construction (and on a free-threaded build).
        self._dropped = 0
        self._counting = threading.Lock()
        self._start()

    def _start(self) -> None:
        # Only the writer thread and an explicit flush drain; the lock keeps batches in order.
        self._draining = threading.Lock()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="log-writer", daemon=True)
        self._thread.start()

    def restart_in_child(self) -> None:
        """In a process just forked (a server's worker): the lines still pending belong to the
        parent, which writes them itself, and the writer thread and its locks did not survive
        the fork (a lock held then would stay held forever). Start afresh."""
        self._pending.clear()
        self._counting = threading.Lock()
        self._dropped = 0
        self._start()

    def write(self, line: str) -> None:
        if len(self._pending) >= MAX_PENDING_LINES:
            with self._counting:
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
            with self._counting:
                dropped, self._dropped = self._dropped, 0
            if dropped:
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


class AccessLog:
    """One line per HTTP request, in the format of the other lines, written without a record."""

    def __init__(self) -> None:
        self._logger = logging.getLogger(ACCESS_LOGGER)
        self._writer: LineWriter | None = None
        self._as_json = True

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
        context = {
            "request_id": request_id,
            "client": client,
            "method": method,
            "route": route,
            "status": status,
            "duration_ms": duration_ms,
        }
        line = render_line(
            as_json=self._as_json,
            moment=time.time(),
            level="info",
            logger=ACCESS_LOGGER,
            message=f"{method} {route} {status}",
            context=context,
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
    _handler.setFormatter(RecordFormatter(as_json=as_json))
    root = logging.getLogger()
    root.addHandler(_handler)
    root.setLevel(level)
    access_log.configure(_writer, as_json=as_json)


def _after_fork_in_child() -> None:
    if _writer is not None:
        _writer.restart_in_child()


os.register_at_fork(after_in_child=_after_fork_in_child)


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
