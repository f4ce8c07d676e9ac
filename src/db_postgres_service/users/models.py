from sqlalchemy import BigInteger, CheckConstraint, Identity, Index, String, func
from sqlalchemy.orm import Mapped, mapped_column

from db_postgres_service.models.base import Base, Versioned, unique_name

EMAIL_MAX_LENGTH = 255
USERNAME_MAX_LENGTH = 100


class User(Versioned, Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=False), primary_key=True)
    email: Mapped[str] = mapped_column(String(EMAIL_MAX_LENGTH))
    username: Mapped[str] = mapped_column(String(USERNAME_MAX_LENGTH))
    hashed_password: Mapped[str] = mapped_column(String(255))

    __table_args__ = (
        # Emails are compared case-insensitively by storing them lower-cased; the check keeps
        # any writer (including a migration or a psql session) from breaking that invariant.
        CheckConstraint("email = lower(email)", name="email_lower"),
        CheckConstraint("version >= 1", name="version_positive"),
        Index(unique_name("users", "email"), "email", unique=True),
        # Keyset pagination by creation time, with id as the tie-breaker.
        Index("ix_users_created_at_id", "created_at", "id"),
        # What a problem about a row of this table calls it (core/db_errors.py).
        {"info": {"noun": "user"}},
    )


# Usernames keep the case they were given but are unique regardless of case.
Index(unique_name("users", "username"), func.lower(User.username), unique=True)
# `username_prefix` filters with LIKE, which only a pattern-ops index serves in any collation.
Index(
    "ix_users_username_pattern",
    func.lower(User.username).label("username_lower"),
    postgresql_ops={"username_lower": "text_pattern_ops"},
)
