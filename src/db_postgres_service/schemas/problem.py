"""The RFC 9457 problem bodies, as documented in the OpenAPI schema (documentation only: the
bodies themselves are rendered by `api/problems.py`)."""

from pydantic import MISSING, BaseModel, ConfigDict, Field

# The X-Request-ID a caller may send; otherwise the service makes a UUID, which also matches.
REQUEST_ID_PATTERN = r"^[A-Za-z0-9._:-]{1,128}$"


class FieldError(BaseModel):
    loc: list[str | int] = Field(description='Where the error is, e.g. ["body", "email"].')
    msg: str


class Problem(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: str = Field(
        pattern=r"^https://db-postgres-service/problems/[a-z-]+$",
        description="A stable URI per kind of error.",
        examples=["https://db-postgres-service/problems/not-found"],
    )
    title: str
    status: int = Field(ge=400, le=599)
    detail: str
    request_id: str = Field(
        pattern=REQUEST_ID_PATTERN,
        description="The request's X-Request-ID (for a replayed "
        "Idempotency-Key response, the first request's).",
    )
    conflicting_field: str | MISSING = Field(
        default=MISSING, description="On a uniqueness 409: the field, e.g. `email`."
    )
    missing: str | MISSING = Field(
        default=MISSING,
        description="On a 404 for a row the path names: which kind of row, e.g. `user`.",
    )
    index: int | MISSING = Field(
        default=MISSING, ge=0, description="On a 409 of `POST /users/batch`: the item's position."
    )
    errors: list[FieldError] | MISSING = Field(
        default=MISSING, description="On a 422: what is wrong, and where."
    )


class ValidationProblem(Problem):
    """A 422: always says what is wrong, and where."""

    errors: list[FieldError] = Field(min_length=1, description="What is wrong, and where.")
