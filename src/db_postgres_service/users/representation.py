"""A user as the wire shows it (schemas.UserOut documents it): never the password hash."""

from typing import Any

import orjson

from db_postgres_service.api.responses import Rendered
from db_postgres_service.users.schemas import PUBLIC_FIELDS
from db_postgres_service.users.sql import UserRecord


def public_fields(user: UserRecord) -> dict[str, Any]:
    return {field: getattr(user, field) for field in PUBLIC_FIELDS}


def user_json(user: UserRecord) -> bytes:
    # orjson straight from the row: the same bytes pydantic would write for UserOut
    # (RFC 3339, UTC as "Z"), without building a model per response.
    return orjson.dumps(public_fields(user), option=orjson.OPT_UTC_Z)


def rendered(user: UserRecord) -> Rendered:
    return Rendered(user.version, user_json(user))
