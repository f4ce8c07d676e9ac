"""What a benchmark run does, read from BENCH_* environment variables."""

import os
from dataclasses import dataclass
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent.parent
REPO_DIR = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
WRK_DIR = BENCH_DIR / "wrk"
PGBENCH_SCRIPT = BENCH_DIR / "pgbench" / "get_by_id.sql"
VENV_BIN = REPO_DIR / ".venv" / "bin"

SEEDED_USERS = 10_000
# Organizations 1..N, each with MEMBERS_PER_ORGANIZATION of the seeded users (the first an
# owner): only the service has them.
SEEDED_ORGANIZATIONS = 1_000
MEMBERS_PER_ORGANIZATION = 10
# A syntactically valid bcrypt hash: seeded users have it, and creates import it.
BCRYPT_HASH = "$2b$12$GhvMmNVjRW29ulnudl.LbuAnUtN/LRfe1JsBm1Xu6LE3059z5Tr8m"

# wrk scenarios, in the order they run: reads first, so writes cannot change what they read.
WRK_SCENARIOS = (
    "by_id",
    "org_by_id",
    "by_username",
    "list",
    "org_list",
    "members",
    "patch",
    "create",
    "org_create",
)
# The organizations' counterpart of a user scenario: in each round it runs on the service right
# after the user's, and is judged against it (results.py, ORGANIZATION_PARITY).
ORGANIZATION_COUNTERPARTS = {"by_id": "org_by_id", "list": "org_list", "create": "org_create"}
# Scenarios of routes the baseline does not have: the service alone.
SERVICE_ONLY_SCENARIOS = frozenset({*ORGANIZATION_COUNTERPARTS.values(), "members"})
# overload runs right after the wrk scenarios (it compares with by_id @64 of the same run).
OTHER_SCENARIOS = (
    "overload",
    "batch",
    "pgbench",
    "rss",
    "outbox",
    "long_poll",
    "relay",
    "fair_share",
    "pgbouncer",
    "client_cpu",
)
ALL_SCENARIOS = WRK_SCENARIOS + OTHER_SCENARIOS

SCENARIO_TITLES = {
    "by_id": "GET by id",
    "org_by_id": "GET organization by id",
    "members": "GET organization members",
    "by_username": "GET by_username",
    "list": "list (limit 50)",
    "org_list": "organization list (limit 50)",
    "patch": "PATCH password_hash",
    "create": "POST create (password_hash)",
    "org_create": "POST organization create",
}


class ConfigError(ValueError):
    """A BENCH_* variable has a value the harness cannot use."""


@dataclass(frozen=True)
class BenchConfig:
    duration: int
    warmup: int
    connections: tuple[int, ...]
    scenarios: tuple[str, ...]
    skip_baseline: bool
    rss_seconds: int
    rss_tolerance_mib: float
    batch_requests: int
    overload_seconds: int
    rounds: int
    threads: int
    database_url: str | None

    @property
    def wrk_scenarios(self) -> tuple[str, ...]:
        return tuple(name for name in WRK_SCENARIOS if name in self.scenarios)

    def runs(self, scenario: str) -> bool:
        return scenario in self.scenarios


def _int(name: str, default: int, minimum: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a whole number") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}")
    return value


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def _connections(threads: int) -> tuple[int, ...]:
    raw = os.environ.get("BENCH_CONNECTIONS", "").strip() or "16,64,256"
    try:
        values = tuple(int(part) for part in raw.split(",") if part.strip())
    except ValueError:
        raise ConfigError(f"BENCH_CONNECTIONS={raw!r} is not a list like 16,64") from None
    if not values or min(values) < threads:
        raise ConfigError(f"BENCH_CONNECTIONS needs values of at least {threads} (the threads)")
    return values


def _scenarios() -> tuple[str, ...]:
    raw = os.environ.get("BENCH_SCENARIOS", "").strip()
    if not raw or raw == "all":
        return ALL_SCENARIOS
    chosen = {part.strip() for part in raw.split(",") if part.strip()}
    unknown = chosen - set(ALL_SCENARIOS)
    if unknown:
        raise ConfigError(
            f"BENCH_SCENARIOS: unknown {', '.join(sorted(unknown))}; "
            f"choose from {', '.join(ALL_SCENARIOS)}"
        )
    return tuple(name for name in ALL_SCENARIOS if name in chosen)


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    try:
        return float(raw) if raw else default
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number") from None


def load_config() -> BenchConfig:
    threads = _int("BENCH_THREADS", 2, 1)
    return BenchConfig(
        duration=_int("BENCH_DURATION", 15, 1),
        warmup=_int("BENCH_WARMUP", 5, 0),
        connections=_connections(threads),
        scenarios=_scenarios(),
        skip_baseline=_flag("BENCH_SKIP_BASELINE"),
        rss_seconds=_int("BENCH_RSS_SECONDS", 60, 1),
        rss_tolerance_mib=_float("BENCH_RSS_TOLERANCE_MIB", 10.0),
        batch_requests=_int("BENCH_BATCH_REQUESTS", 20, 1),
        overload_seconds=_int("BENCH_OVERLOAD_SECONDS", 20, 1),
        rounds=_int("BENCH_ROUNDS", 1, 1),
        threads=threads,
        database_url=os.environ.get("DATABASE_URL") or None,
    )
