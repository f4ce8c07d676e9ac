import datetime
import uuid
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Identity,
    String,
    Text,
    func,
    text,
    true,
)
from sqlalchemy.dialects.postgresql import JSON, UUID
from sqlalchemy.orm import Mapped, mapped_column

from db_postgres_service.models.base import Base


class Event(Base):
    """The outbox: one committed change, written in the transaction that made it
    (core/outbox.py), read by the feed (events/) and the relay.

    Its place in the feed is (`xid`, `position`): the writing transaction's id, then the
    order of its writes. A reader serves only events of transactions older than every
    transaction still running, so an event that commits late is never passed over
    (events/feed_sql.py).
    """

    __tablename__ = "events"

    # pg_current_xact_id() as a bigint: xid8 counts transactions without wrapping around.
    xid: Mapped[int] = mapped_column(
        BigInteger, primary_key=True, server_default=text("pg_current_xact_id()::text::bigint")
    )
    position: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    # A random UUID (122 random bits) is unique without an index to prove it, which would cost
    # every write a random page of its own (bench/README.md).
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), server_default=func.gen_random_uuid())
    type: Mapped[str] = mapped_column(String(100))
    subject: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(100))
    time: Mapped[datetime.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.clock_timestamp()
    )
    # `json`, not `jsonb`: it keeps the text as written, keys in the order a GET writes them.
    data: Mapped[Any] = mapped_column(JSON)


class EventHorizon(Base):
    """How far retention has swept the feed: the greatest (xid, position) deleted. A cursor
    before it may have missed an event for good (410)."""

    __tablename__ = "event_horizon"

    one: Mapped[bool] = mapped_column(Boolean, primary_key=True, server_default=true())
    xid: Mapped[int] = mapped_column(BigInteger, server_default="0")
    position: Mapped[int] = mapped_column(BigInteger, server_default="0")

    __table_args__ = (CheckConstraint("one", name="one_row"),)


class RelayPosition(Base):
    """How far the relay has published to an exchange, recorded only after the broker confirmed
    every event up to it: a relay that stops, however, goes on from here."""

    __tablename__ = "relay_positions"

    exchange: Mapped[str] = mapped_column(String(255), primary_key=True)
    xid: Mapped[int] = mapped_column(BigInteger)
    position: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
