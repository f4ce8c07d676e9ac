"""PgBouncer for the tests (db_postgres_service/dev/pgbouncer.py). `make test` installs
Debian's package when it is missing (as root with apt-get); a test that needs it and finds none
is skipped with the reason, unless DPS_REQUIRE_EVERY_TEST is set (.ci/run sets it), which makes
the skip a failure.
"""

from collections.abc import Iterator
from contextlib import contextmanager

from db_postgres_service.dev import pgbouncer

from .helpers import skip_for_lack_of


def require_pgbouncer() -> str:
    """The pgbouncer executable, or the test is skipped (failed under DPS_REQUIRE_EVERY_TEST)."""
    found = pgbouncer.find_pgbouncer()
    if found is None:
        skip_for_lack_of("pgbouncer not found (apt-get install pgbouncer)")
    return found


@contextmanager
def running_pgbouncer(server_url: str, *, pool_mode: str, pool_size: int) -> Iterator[str]:
    with pgbouncer.running_pgbouncer(
        require_pgbouncer(), server_url, pool_mode=pool_mode, pool_size=pool_size
    ) as url:
        yield url
