"""A user as the wire shows it (schemas.UserOut documents it): never the password hash."""

from typing import Any

import orjson

from db_postgres_service.api.responses import Rendered
from db_postgres_service.users.repository import PublicUser
from db_postgres_service.users.sql import UserRecord

PUBLIC_FIELDS = ("id", "email", "username", "created_at", "updated_at", "version")

User = UserRecord | PublicUser


def public_fields(user: User) -> dict[str, Any]:
    if isinstance(user, UserRecord):
        return {field: getattr(user, field) for field in PUBLIC_FIELDS}
    return {field: user[field] for field in PUBLIC_FIELDS}


def user_json(user: User) -> bytes:
    # orjson straight from the row: the same bytes pydantic would write for UserOut
    # (RFC 3339, UTC as "Z"), without building a model per response.
    return orjson.dumps(public_fields(user), option=orjson.OPT_UTC_Z)


def rendered(user: User) -> Rendered:
    version = user.version if isinstance(user, UserRecord) else user["version"]
    return Rendered(version, user_json(user))
