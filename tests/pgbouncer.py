"""PgBouncer for the tests (db_postgres_service/dev/pgbouncer.py). `make test` installs
Debian's package when it is missing (as root with apt-get); a test that needs it and finds none
is skipped with the reason, unless DPS_REQUIRE_EVERY_TEST is set (.ci/run sets it), which makes
the skip a failure.
"""

import os
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from db_postgres_service.dev import pgbouncer


def require_pgbouncer() -> str:
    """The pgbouncer executable, or the test is skipped (failed under DPS_REQUIRE_EVERY_TEST)."""
    found = pgbouncer.find_pgbouncer()
    if found is None:
        reason = "pgbouncer not found (apt-get install pgbouncer)"
        if os.environ.get("DPS_REQUIRE_EVERY_TEST"):
            pytest.fail(f"{reason}; DPS_REQUIRE_EVERY_TEST forbids skipping")
        pytest.skip(reason)
    return found


@contextmanager
def running_pgbouncer(server_url: str, *, pool_mode: str, pool_size: int) -> Iterator[str]:
    with pgbouncer.running_pgbouncer(
        require_pgbouncer(), server_url, pool_mode=pool_mode, pool_size=pool_size
    ) as url:
        yield url
