"""Process-wide logging: JSON lines for machines, readable lines in a terminal, never blocking.

Records go through a queue to a listener thread, so a slow stderr (a full pipe, a stalled log
shipper) never stalls the event loop that serves requests.
"""

import datetime
import logging
import logging.handlers
import queue
import sys
from typing import Any, Literal

import orjson

LogFormat = Literal["auto", "json", "text"]
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
_listener: logging.handlers.QueueListener | None = None
_queue_handler: logging.Handler | None = None


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


def configure_logging(level: str, log_format: LogFormat = "auto") -> None:
    """(Re)install the service's one root handler; JSON unless stderr is a terminal."""
    global _listener, _queue_handler
    stop_logging()
    as_json = log_format == "json" or (log_format == "auto" and not sys.stderr.isatty())
    stream = logging.StreamHandler(sys.stderr)
    stream.setFormatter(JsonFormatter() if as_json else TextFormatter())
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    _queue_handler = logging.handlers.QueueHandler(records)
    _listener = logging.handlers.QueueListener(records, stream, respect_handler_level=False)
    root = logging.getLogger()
    root.addHandler(_queue_handler)
    root.setLevel(level)
    _listener.start()


def stop_logging() -> None:
    """Flush what is queued and remove the handler (at shutdown, or before reconfiguring)."""
    global _listener, _queue_handler
    if _queue_handler is not None:
        logging.getLogger().removeHandler(_queue_handler)
        _queue_handler = None
    if _listener is not None:
        _listener.stop()
        _listener = None
