"""Rows of any resource as the wire shows them: the same bytes pydantic would write for the
resource's Out model (RFC 3339, UTC as "Z"), written by orjson straight from the row."""

from collections.abc import Sequence

import asyncpg
import orjson

from db_postgres_service.api.responses import Rendered

# What completes PostgreSQL's text of a UTC timestamp, by its length: it writes
# 'YYYY-MM-DD HH:MM:SS' and a fraction with its trailing zeros trimmed (none when zero).
_SUFFIXES = {19: "Z", **{length: "0" * (26 - length) + "Z" for length in range(21, 27)}}


def rfc3339(utc_text: str) -> str:
    """A timestamp read as UTC text (core/table_sql.py) exactly as orjson writes the datetime
    of a single read: a 'T', six fraction digits or none when they are all zero, a 'Z'. A dict
    lookup and one replace: a page has hundreds of them."""
    return utc_text.replace(" ", "T") + _SUFFIXES[len(utc_text)]


def rendered(row: asyncpg.Record) -> Rendered:
    """One row read with its columns as the wire names them, and its version (the ETag)."""
    return Rendered(row["version"], orjson.dumps(dict(row), option=orjson.OPT_UTC_Z))


def page_json(
    rows: Sequence[asyncpg.Record], timestamps: Sequence[str], next_cursor: str | None
) -> bytes:
    """A page of rows whose `timestamps` columns were read as UTC text."""
    items = []
    for row in rows:
        item = dict(row)
        for name in timestamps:
            text = item[name]
            if text is not None:
                item[name] = rfc3339(text)
        items.append(item)
    return orjson.dumps({"items": items, "next_cursor": next_cursor})
