"""A place in the feed, and the cursor text that names it."""

import re
from dataclasses import dataclass
from typing import Self

from db_postgres_service.core.database import BIGINT_MAX
from db_postgres_service.core.errors import ValidationFailed

_CURSOR = re.compile(r"([0-9]{1,19})-([0-9]{1,19})")


@dataclass(frozen=True, order=True, slots=True)
class Position:
    """(transaction id, order within the feed): events are served in this order."""

    xid: int
    position: int

    @property
    def cursor(self) -> str:
        return f"{self.xid}-{self.position}"

    @classmethod
    def parse(cls, cursor: str, parameter: str = "after") -> Self:
        matched = _CURSOR.fullmatch(cursor)
        if matched is not None:
            xid, position = int(matched[1]), int(matched[2])
            if xid <= BIGINT_MAX and position <= BIGINT_MAX:
                return cls(xid, position)
        raise ValidationFailed(
            [{"loc": ["query", parameter], "msg": "not a cursor of this feed"}],
            f"`{parameter}` must be a `next_cursor` or an event's `cursor`, as the feed wrote it.",
        )


START = Position(0, 0)
