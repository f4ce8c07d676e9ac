"""The resources as the service returns them: one pydantic model per response schema.

`tests/client/test_drift.py` compares each model's fields with the schema its `openapi_schema`
names in the service's /openapi.json, so a field added there fails the suite until it is added
here.
"""

import datetime
from typing import Any, ClassVar, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict

Role = Literal["owner", "admin", "member"]


class Resource(BaseModel):
    """A row of the service: versioned, and conditional writes send its `etag` back."""

    # Unknown fields are ignored, so that a field the service adds breaks no running caller.
    model_config = ConfigDict(frozen=True, extra="ignore")
    openapi_schema: ClassVar[str]

    created_at: datetime.datetime
    updated_at: datetime.datetime
    version: int

    @property
    def etag(self) -> str:
        """The strong entity tag the service sent with it, for If-Match / If-None-Match."""
        return f'"{self.version}"'


class User(Resource):
    openapi_schema: ClassVar[str] = "UserOut"

    id: int
    email: str
    username: str


class Organization(Resource):
    openapi_schema: ClassVar[str] = "OrganizationOut"

    id: int
    slug: str
    name: str


class Membership(Resource):
    openapi_schema: ClassVar[str] = "MembershipOut"

    organization_id: int
    user_id: int
    role: Role


class Event(BaseModel):
    """A CloudEvent 1.0 about one committed change; `cursor` is where to resume after it."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    openapi_schema: ClassVar[str] = "EventOut"

    specversion: str
    id: str
    source: str
    type: str
    subject: str
    time: datetime.datetime
    datacontenttype: str
    actor: str
    cursor: str
    data: dict[str, Any]


Item = TypeVar("Item", bound=BaseModel)


class Page(BaseModel, Generic[Item]):
    """One page of a list: pass `next_cursor` back (None on the last page of a list)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    items: list[Item]
    next_cursor: str | None
