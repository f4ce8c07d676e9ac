"""The relay's SQL: its lock, its recorded position, and how far behind the feed it is."""

# The relay's sessions in pg_stat_activity.
APPLICATION_NAME = "db-postgres-service relay"
# One relay per database and exchange. A session lock, held by the lock's own connection for
# as long as it lives: a relay that dies, however, lets the next one in.
LOCK = "SELECT pg_advisory_lock(hashtextextended('relay:' || $1, 0))"
RECORDED = "SELECT xid, position FROM relay_positions WHERE exchange = $1"
# Never moves back: a relay that lost its lock a moment ago may still record a confirmed
# position after its successor recorded a later one.
RECORD = """
    INSERT INTO relay_positions AS recorded (exchange, xid, position) VALUES ($1, $2, $3)
    ON CONFLICT (exchange) DO UPDATE
    SET xid = excluded.xid, position = excluded.position, updated_at = now()
    WHERE (recorded.xid, recorded.position) < (excluded.xid, excluded.position)
"""
# The events a reader of the feed may be served (as events/sql.py's EVENTS_AFTER) that the
# relay has not published yet, counted up to $3 (a relay far behind must not spend its time
# counting a backlog of millions), and the age in seconds of the next one to publish (0 when
# none).
LAG = """
    WITH behind AS (
        SELECT time FROM events
        WHERE (xid, position) > ($1, $2)
          AND xid < pg_snapshot_xmin(pg_current_snapshot())::text::bigint
        ORDER BY xid, position
        LIMIT $3
    )
    SELECT (SELECT count(*) FROM behind) AS events,
           coalesce(
               extract(epoch FROM clock_timestamp() - (SELECT time FROM behind LIMIT 1)), 0
           )::float8 AS seconds
"""
