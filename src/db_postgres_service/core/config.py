"""Settings read from the environment (and an optional `.env`), validated once at startup."""

from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

# Where prometheus_client's multiprocess mode keeps samples; it must be set before that
# library is first imported in a process that serves requests.
METRICS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


class Settings(BaseSettings):
    """Every knob of the service; each is documented in the README."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    database_url: str = Field(
        default="postgresql+asyncpg://postgres@127.0.0.1:5432/db_postgres_service",
        description="PostgreSQL DSN; plain postgresql:// is accepted and driven through asyncpg.",
    )
    # The worker's one pool, for every request (core/database.py). Measured (bench/README.md):
    # connections opened and closed per burst halved write throughput under load; a fixed
    # pool that requests queue for is faster.
    db_pool_size: int = Field(default=16, ge=1, le=1000)
    # "transaction": DATABASE_URL names a PgBouncer in transaction mode, where a server
    # connection is the service's only for one transaction: no named prepared statement and
    # no startup parameter PgBouncer does not know (statement_timeout comes from the
    # database or role instead).
    database_pool_mode: Literal["session", "transaction"] = "session"
    # Requests one worker runs at once (api/admission.py). None: as many as the pool has
    # connections, so that a running request rarely waits for one (bench/README.md).
    requests_per_worker: int | None = Field(default=None, ge=1, le=10_000)
    # How long a request may wait for its turn before it is answered 503 without running,
    # and how many may wait at once (a bound on memory, not on latency). Measured: a burst of
    # 30 password creates (argon2, ~130 ms each) takes one worker about 2 s on 2 cores; a
    # shorter budget sheds such a burst, which the worker clears in that time
    # (bench/README.md). A caller who gives up sooner has its waiting request dropped anyway.
    request_queue_timeout_ms: int = Field(default=2000, ge=1, le=60_000)
    request_queue_length: int = Field(default=1024, ge=0, le=100_000)
    # The instance's worker processes (`serve` sets it from its --workers): each applies
    # max(1, N // web_concurrency) of a client's limit of N requests in flight.
    web_concurrency: int = Field(default=1, ge=1, le=1024)
    # Connections one worker keeps open at once: far above any caller's pool, so that the
    # server never leaves a connection unaccepted; the work is bounded by the settings above.
    max_connections_per_worker: int = Field(default=4096, ge=16, le=1_000_000)
    db_pool_timeout: float = Field(default=2.0, gt=0, le=300)
    db_connect_timeout: float = Field(default=2.0, gt=0, le=300)
    db_statement_timeout_ms: int = Field(default=5000, ge=0)
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    log_level: LogLevel = "INFO"
    log_format: Literal["auto", "json", "text"] = "auto"
    password_hash_threads: int = Field(default=4, ge=1, le=64)
    shutdown_grace_seconds: int = Field(default=30, ge=1, le=3600)
    require_if_match: bool = False
    # The plainest reads and creates answered in front of FastAPI (api/hot_paths.py). Off, every
    # request takes FastAPI's route: the same answers (tests/test_fast_lane.py), slower.
    fast_lane: bool = True
    idempotency_ttl_seconds: int = Field(default=24 * 3600, ge=60)
    # How long the change feed keeps an event; older ones are swept in small batches by every
    # worker, every `event_sweep_interval_seconds` (events/retention.py).
    event_retention_days: float = Field(default=7, gt=0, le=3650)
    event_sweep_interval_seconds: float = Field(default=60, gt=0, le=86_400)
    # How often a worker with long polls waiting asks whether a newer event is visible: one
    # query per interval whatever the number of waiters (events/watcher.py).
    event_poll_interval_ms: int = Field(default=100, ge=5, le=10_000)
    # The relay (`db-postgres-service relay`, relay/): the broker, the durable topic exchange it
    # publishes to (one recorded position and one lock per exchange), the port of its /health
    # and /metrics, and how many events it publishes before it awaits their confirms.
    amqp_url: str = Field(default="amqp://guest:guest@127.0.0.1:5672/", min_length=1)
    relay_exchange: str = Field(default="db-postgres-service.events", min_length=1, max_length=255)
    relay_port: int = Field(default=8001, ge=1, le=65_535)
    relay_batch: int = Field(default=500, ge=1, le=10_000)

    # Schema migrations (`migrate`, `serve --migrate`; core/migration_retries.py): how long a
    # migration's statement may wait for a lock, while the reads and writes of that table queue
    # behind it, and how many times a step that waited longer is rolled back and run again.
    migration_lock_timeout_ms: int = Field(default=2000, ge=1, le=600_000)
    migration_retries: int = Field(default=5, ge=0, le=100)

    @property
    def worker_concurrency(self) -> int:
        return self.requests_per_worker or self.db_pool_size

    @property
    def request_queue_timeout(self) -> float:
        return self.request_queue_timeout_ms / 1000

    @field_validator("database_url", mode="before")
    @classmethod
    def _use_asyncpg(cls, value: object) -> object:
        """Accept the libpq-style URLs operators have; always drive them through asyncpg."""
        if not isinstance(value, str):
            return value
        try:
            url = make_url(value)
        except ArgumentError:
            raise ValueError("DATABASE_URL is not a database URL") from None
        if url.get_backend_name() not in {"postgres", "postgresql"}:
            raise ValueError("DATABASE_URL must point to PostgreSQL")
        return url.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_log_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value
