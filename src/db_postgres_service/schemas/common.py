from pydantic import BaseModel, ConfigDict


class RequestBody(BaseModel):
    """Base of every request body: unknown or server-owned fields are rejected, not ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)
