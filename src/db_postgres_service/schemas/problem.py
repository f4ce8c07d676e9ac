"""The RFC 9457 problem body, as documented in the OpenAPI schema."""

from pydantic import BaseModel, ConfigDict, Field


class FieldError(BaseModel):
    loc: list[str | int]
    msg: str


class Problem(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: str = Field(examples=["https://db-postgres-service/problems/not-found"])
    title: str
    status: int
    detail: str
    request_id: str
    conflicting_field: str | None = Field(default=None, description="Set on a 409 conflict.")
    errors: list[FieldError] | None = Field(default=None, description="Set on a 422.")
