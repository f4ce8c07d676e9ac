import datetime

from sqlalchemy import DateTime, Index, Integer, LargeBinary, String, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from db_postgres_service.models.base import Base


class IdempotencyKey(Base):
    """A POST's Idempotency-Key with the response it produced.

    Written in the same transaction as the POST's effect, so a record can never exist without
    its effect or the reverse. While a request with the key runs, it holds an advisory lock
    derived from (client, route, key), which is how a concurrent retry learns it is in flight.
    """

    __tablename__ = "idempotency_keys"

    # The calling client's name ('' until callers authenticate), the route, the caller's key.
    client: Mapped[str] = mapped_column(String(100), primary_key=True)
    route: Mapped[str] = mapped_column(String(100), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_fingerprint: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[int] = mapped_column(Integer)
    headers: Mapped[dict[str, str]] = mapped_column(JSONB)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    expires_at: Mapped[datetime.datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_idempotency_keys_expires_at", "expires_at"),)
