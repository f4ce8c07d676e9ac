"""Organizations and memberships as business services see them on the wire: the types of
an organization's writable fields (its bodies are derived from them, api/standard.py) and the
memberships' models."""

import datetime
from typing import Annotated

from fastapi.openapi.models import Example
from pydantic import AfterValidator, BaseModel, Field

from db_postgres_service.organizations.models import NAME_MAX_LENGTH, SLUG_MAX_LENGTH, Role
from db_postgres_service.schemas.common import RequestBody
from db_postgres_service.schemas.derived import NEXT_CURSOR

Slug = Annotated[
    str,
    Field(
        min_length=2,
        max_length=SLUG_MAX_LENGTH,
        pattern=r"^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$",
        description="Letters, digits and `-`, not first or last; stored lower-cased.",
        examples=["acme"],
    ),
    AfterValidator(str.lower),
]
# Control characters (C0, DEL, C1) would break logs and terminals of whoever shows the name.
Name = Annotated[
    str,
    Field(
        min_length=1,
        max_length=NAME_MAX_LENGTH,
        pattern=r"^[^\x00-\x1f\x7f-\x9f]*$",
        examples=["Acme Corp"],
    ),
]


class MembershipPut(RequestBody):
    role: Role


class MembershipOut(BaseModel):
    organization_id: int
    user_id: int
    role: Role
    created_at: datetime.datetime
    updated_at: datetime.datetime
    version: int


class MembershipPage(BaseModel):
    items: list[MembershipOut]
    next_cursor: str | None = NEXT_CURSOR


# What /docs fills in and tests/test_examples.py sends, after the users' examples.
CREATE_EXAMPLES: dict[str, Example] = {
    "acme": {"summary": "An organization", "value": {"slug": "acme", "name": "Acme Corp"}}
}
UPDATE_EXAMPLES: dict[str, Example] = {
    "name": {"summary": "A new name", "value": {"name": "Acme Inc"}}
}
MEMBERSHIP_EXAMPLES: dict[str, Example] = {
    "owner": {"summary": "An owner (the first member must be one)", "value": {"role": "owner"}}
}
