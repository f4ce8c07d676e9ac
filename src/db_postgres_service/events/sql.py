"""The feed's SQL. An event is served only once every transaction older than the reader's
snapshot has ended (`pg_snapshot_xmin`): then no event can still commit with a smaller
position, so a reader that moves past a position never skips one that commits late. The
horizon is cluster-wide: a long transaction in another database holds the feed back too
(README, "The change feed")."""

# $1, $2 the position read after; $3 the limit; $4 the types (NULL: all).
# pg_snapshot_xmin(...): the oldest transaction still running, as the `xid` column counts.
EVENTS_AFTER = """
    SELECT xid, position, id::text AS id, type, subject, actor,
           timezone('UTC', time)::text AS time, data::text AS data
    FROM events
    WHERE (xid, position) > ($1, $2) AND xid < pg_snapshot_xmin(pg_current_snapshot())::text::bigint
      AND ($4::text[] IS NULL OR type = ANY($4::text[]))
    ORDER BY xid, position
    LIMIT $3
"""
# The newest event a reader may be served now: what a long poll waits to move.
NEWEST_VISIBLE = """
    SELECT xid, position FROM events
    WHERE xid < pg_snapshot_xmin(pg_current_snapshot())::text::bigint
    ORDER BY xid DESC, position DESC LIMIT 1
"""
# How far retention has swept: a cursor before it may have missed an event.
SWEPT = "SELECT xid, position FROM event_horizon"
# Delete the oldest events, at most $2 of them, up to the first younger than $1 days, and
# move the horizon past the last one deleted. Returns how many were deleted.
SWEEP = """
    WITH oldest AS (
        SELECT xid, position, time FROM events ORDER BY xid, position LIMIT $2
    ), first_kept AS (
        SELECT xid, position FROM oldest
        WHERE time >= now() - make_interval(secs => $1 * 86400)
        ORDER BY xid, position LIMIT 1
    ), deleted AS (
        DELETE FROM events USING oldest
        WHERE events.xid = oldest.xid AND events.position = oldest.position
          AND NOT EXISTS (
              SELECT FROM first_kept
              WHERE (oldest.xid, oldest.position) >= (first_kept.xid, first_kept.position)
          )
        RETURNING events.xid, events.position
    ), last_deleted AS (
        SELECT xid, position FROM deleted ORDER BY xid DESC, position DESC LIMIT 1
    ), moved AS (
        UPDATE event_horizon SET xid = last_deleted.xid, position = last_deleted.position
        FROM last_deleted
        WHERE (last_deleted.xid, last_deleted.position)
            > (event_horizon.xid, event_horizon.position)
    )
    SELECT count(*) FROM deleted
"""
