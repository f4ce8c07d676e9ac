"""The README's backfill in batches, run as written: it fills every row of users, one
transaction per batch of 10,000 ids."""

import asyncio
from pathlib import Path

import asyncpg

from alembic import command

from .conftest import ThrowAwayDatabases
from .helpers import asyncpg_dsn
from .migration_scripts import BACKFILL_USERS, add_users, config_for, with_next_migration


async def test_the_readme_s_backfill_fills_every_row_one_transaction_per_batch(
    databases: ThrowAwayDatabases, tmp_path: Path
) -> None:
    url = await databases.acreate()
    # Ids 1 to 25,000: the batches [0, 10,000), [10,000, 20,000) and [20,000, 30,000).
    await add_users(url, 25_000)
    upgrade = config_for(with_next_migration(tmp_path, BACKFILL_USERS), url)

    await asyncio.to_thread(command.upgrade, upgrade, "head")

    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        filled = await connection.fetchrow(
            "SELECT count(*) AS users,"
            " count(*) FILTER (WHERE email_domain = 'example.com') AS filled,"
            # The transaction that last wrote each row.
            " count(DISTINCT xmin::text) AS transactions"
            " FROM users"
        )
    finally:
        await connection.close()
    assert dict(filled) == {"users": 25_000, "filled": 25_000, "transactions": 3}
