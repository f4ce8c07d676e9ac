import re
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict


class RequestBody(BaseModel):
    """Base of every request body: unknown or server-owned fields are rejected, not ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,6})?([Zz]|[+-]\d{2}:\d{2})")


def _rfc3339_text(value: object) -> object:
    """Only RFC 3339 text with an offset: pydantic alone would read `0.5` as a Unix time."""
    if isinstance(value, str) and _RFC3339.fullmatch(value):
        return value
    raise ValueError("must be an RFC 3339 timestamp with an offset, e.g. 2026-11-26T03:00:00Z")


Timestamp = Annotated[AwareDatetime, BeforeValidator(_rfc3339_text)]
