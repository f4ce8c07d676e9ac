"""GET by id through PgBouncer in transaction mode against direct (bench/README.md,
"PgBouncer").

A second service, started like the first but with DATABASE_POOL_MODE=transaction, reaches the
same database through a PgBouncer in transaction mode (Debian's, dev/pgbouncer.py) whose pool
holds as many server connections as the direct service's workers do together. GET by id at
POOL_MODE_CONNECTIONS, alternating direct and through PgBouncer, round by round: what
transaction mode costs is parsing every statement anew (no prepared statement survives a
transaction there) and PgBouncer's own hop.
"""

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy.engine import make_url

from bench.harness.events import PairedRuns
from bench.harness.load import run_wrk
from bench.harness.servers import WORKERS, Target, running_service
from db_postgres_service.core.config import Settings
from db_postgres_service.dev.pgbouncer import find_pgbouncer, running_pgbouncer

POOL_MODE_CONNECTIONS = 64


@contextmanager
def _through_pgbouncer(database_url: str, api_key: str, log_path: Path) -> Iterator[Target]:
    executable = find_pgbouncer()
    if executable is None:
        raise RuntimeError("the pgbouncer scenario needs pgbouncer (apt-get install pgbouncer)")
    pool_size = WORKERS * Settings(database_url=database_url).db_pool_size
    with running_pgbouncer(
        executable, database_url, pool_mode="transaction", pool_size=pool_size
    ) as bouncer:
        database = make_url(database_url).database
        url = make_url(bouncer).set(database=database).render_as_string(hide_password=False)
        with running_service(url, api_key, log_path, DATABASE_POOL_MODE="transaction") as target:
            yield dataclasses.replace(target, name="pgbouncer")


def run_pool_mode(
    service: Target,
    database_url: str,
    log_path: Path,
    rounds: int,
    seconds: int,
    warmup: int,
    threads: int,
) -> PairedRuns:
    """`reference`: the service connecting directly; `changed`: through PgBouncer."""
    runs = PairedRuns()
    with _through_pgbouncer(database_url, service.api_key, log_path) as bounced:
        for number in range(rounds):
            order = (service, bounced) if number % 2 == 0 else (bounced, service)
            for target in order:
                if warmup:
                    run_wrk(target, "by_id", POOL_MODE_CONNECTIONS, warmup, threads)
                measured = run_wrk(target, "by_id", POOL_MODE_CONNECTIONS, seconds, threads)
                (runs.reference if target is service else runs.changed).append(measured)
    return runs
