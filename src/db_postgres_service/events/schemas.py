"""The feed's wire shapes, for the OpenAPI document (the responses are written by
events/cloudevents.py)."""

import datetime
import uuid
from typing import Any, Literal

from pydantic import BaseModel, Field

EXAMPLE_CURSOR = "1289-4711"


class EventOut(BaseModel):
    """A CloudEvent 1.0 about one committed change."""

    specversion: Literal["1.0"]
    id: uuid.UUID
    source: Literal["/db-postgres-service"]
    type: str = Field(examples=["user.created"])
    subject: str = Field(examples=["users/42"])
    time: datetime.datetime
    datacontenttype: Literal["application/json"]
    actor: str = Field(description="The client (API key) whose request made the change.")
    cursor: str = Field(
        description="Passed as `after`, the feed goes on right after this event.",
        examples=[EXAMPLE_CURSOR],
    )
    data: dict[str, Any] = Field(
        description="The resource as a GET returned it right after the change (for a delete, "
        "as it was last)."
    )


class EventPage(BaseModel):
    items: list[EventOut]
    next_cursor: str = Field(
        description="Pass it as `after` for the events after these.", examples=[EXAMPLE_CURSOR]
    )
