"""Organizations and memberships as business services see them on the wire."""

import datetime
from typing import Annotated, Self

from fastapi.openapi.models import Example
from pydantic import MISSING, AfterValidator, BaseModel, ConfigDict, Field, model_validator

from db_postgres_service.organizations.models import NAME_MAX_LENGTH, SLUG_MAX_LENGTH, Role
from db_postgres_service.schemas.common import RequestBody

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


class OrganizationCreate(RequestBody):
    slug: Slug
    name: Name


class OrganizationUpdate(RequestBody):
    """A partial change: at least one field."""

    model_config = ConfigDict(json_schema_extra={"minProperties": 1})

    slug: Slug | MISSING = MISSING
    name: Name | MISSING = MISSING

    @model_validator(mode="after")
    def _something(self) -> Self:
        if not self.model_fields_set:
            raise ValueError("give at least one of `slug`, `name`")
        return self


class OrganizationOut(BaseModel):
    id: int
    slug: str
    name: str
    created_at: datetime.datetime
    updated_at: datetime.datetime
    version: int


class OrganizationPage(BaseModel):
    items: list[OrganizationOut]
    next_cursor: str | None = Field(
        description="Pass as `cursor` (with the same order and filters) for the next page; "
        "null on the last page."
    )


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
    next_cursor: str | None = Field(
        description="Pass as `cursor` (with the same order and filters) for the next page; "
        "null on the last page."
    )


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
