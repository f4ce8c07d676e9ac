import datetime

from sqlalchemy import (
    ARRAY,
    BigInteger,
    CheckConstraint,
    DateTime,
    Identity,
    Index,
    Integer,
    LargeBinary,
    String,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from db_postgres_service.models.base import Base, unique_name


class ApiClient(Base):
    """One API key of a named calling service. A client may hold two keys while it rotates."""

    __tablename__ = "api_clients"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=False), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    # The key's first characters, not secret, so that operators can tell keys apart.
    key_prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[bytes] = mapped_column(LargeBinary)
    scopes: Mapped[list[str]] = mapped_column(ARRAY(String(50)))
    created_at: Mapped[datetime.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    revoked_at: Mapped[datetime.datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index(unique_name("api_clients", "key_hash"), "key_hash", unique=True),
        Index("ix_api_clients_name", "name"),
    )


class ClientLimit(Base):
    """An operator's hard limit on a client's requests in flight (`clients limit`), whichever of
    its keys they carry; a client without a row has none."""

    __tablename__ = "client_limits"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    max_in_flight: Mapped[int] = mapped_column(Integer)

    __table_args__ = (CheckConstraint("max_in_flight > 0", name="max_in_flight_positive"),)
