"""Declarative base whose constraint names are predictable, so errors can be mapped by name."""

import datetime

from sqlalchemy import DateTime, Integer, MetaData, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def unique_name(table: str, field: str) -> str:
    """Name of the unique constraint or index that guards `field` of `table`.

    The error mapper reverses this to tell a caller which field conflicted.
    """
    return f"uq_{table}_{field}"


class Versioned:
    """The columns every resource's row has (CONTRACT.md "Every resource"): when it was
    created and last changed, and its version, which starts at 1 and is its ETag."""

    created_at: Mapped[datetime.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    updated_at: Mapped[datetime.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    version: Mapped[int] = mapped_column(Integer, server_default="1")
