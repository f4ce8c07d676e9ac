"""Memberships as the wire shows them (schemas.py documents them)."""

import orjson

from db_postgres_service.api.responses import Rendered
from db_postgres_service.organizations.sql import MembershipRecord

Record = MembershipRecord


def record_json(record: Record) -> bytes:
    # The same bytes pydantic would write for the Out models (RFC 3339, UTC as "Z").
    return orjson.dumps(record, option=orjson.OPT_UTC_Z)


def rendered(record: Record) -> Rendered:
    return Rendered(record.version, record_json(record))


def page_json(items: list[Record], next_cursor: str | None) -> bytes:
    return orjson.dumps(
        {"items": items, "next_cursor": next_cursor},
        option=orjson.OPT_UTC_Z,
    )
