"""The relay's Prometheus metrics, served on RELAY_PORT (relay/health.py)."""

from prometheus_client import Counter, Gauge

from db_postgres_service.core import process_metrics  # noqa: F401  # before any metric

LAG_EVENTS = Gauge(
    "relay_lag_events",
    "Events a reader of the feed may be served that the relay has not published (and had "
    "confirmed) yet, counted up to 100,000; measured by the relay that holds the lock.",
)
LAG_SECONDS = Gauge(
    "relay_lag_seconds",
    "Age of the oldest event the relay has not published yet, 0 when it is caught up.",
)
PUBLISHING = Gauge(
    "relay_publishing", "1 while this relay holds its exchange's lock and publishes, else 0."
)
PUBLISHED = Counter(
    "relay_events_published_total", "Events published and confirmed by the broker.", ["type"]
)
PUBLISH_ERRORS = Counter(
    "relay_publish_errors_total",
    "Batches the broker did not confirm whole (refused, timed out, channel or connection lost).",
)
RECONNECTS = Counter(
    "relay_reconnects_total",
    "Times the relay started over (new connections, from its recorded position) after a failure.",
)
