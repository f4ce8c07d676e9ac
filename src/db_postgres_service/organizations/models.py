"""The organizations and memberships tables. The owner rule itself lives in the database
(migration 0004, `memberships_keep_an_owner`), where no two transactions can race past it."""

from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Identity,
    Index,
    PrimaryKeyConstraint,
    String,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from db_postgres_service.models.base import Base, Versioned, unique_name
from db_postgres_service.organizations.errors import owner_required

SLUG_MAX_LENGTH = 63
NAME_MAX_LENGTH = 200


class Role(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"


class Organization(Versioned, Base):
    __tablename__ = "organizations"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=False), primary_key=True)
    slug: Mapped[str] = mapped_column(String(SLUG_MAX_LENGTH))
    name: Mapped[str] = mapped_column(String(NAME_MAX_LENGTH))

    __table_args__ = (
        CheckConstraint("slug = lower(slug)", name="slug_lower"),
        CheckConstraint("version >= 1", name="version_positive"),
        Index(unique_name("organizations", "slug"), "slug", unique=True),
        Index("ix_organizations_created_at_id", "created_at", "id"),
        # `slug_prefix` filters with LIKE, which only a pattern-ops index serves in any collation.
        Index("ix_organizations_slug_pattern", "slug", postgresql_ops={"slug": "text_pattern_ops"}),
        {"info": {"noun": "organization"}},
    )


class Membership(Versioned, Base):
    __tablename__ = "memberships"

    organization_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("organizations.id", ondelete="CASCADE")
    )
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(16))

    __table_args__ = (
        # A user is in an organization at most once; the key also serves an organization's
        # members in user_id order, both directions.
        PrimaryKeyConstraint("organization_id", "user_id"),
        CheckConstraint("role IN ('owner', 'admin', 'member')", name="role_known"),
        CheckConstraint("version >= 1", name="version_positive"),
        Index("ix_memberships_user_id_organization_id", "user_id", "organization_id"),
        Index(
            "ix_memberships_organization_id_created_at_user_id",
            "organization_id",
            "created_at",
            "user_id",
        ),
        Index(
            "ix_memberships_user_id_created_at_organization_id",
            "user_id",
            "created_at",
            "organization_id",
        ),
        # What the owner rule looks up on every change of an organization's members.
        Index(
            "ix_memberships_owners",
            "organization_id",
            postgresql_where=text("role = 'owner'"),
        ),
        # The rule `owner_required` (the trigger of migration 0004) becomes this problem.
        {"info": {"noun": "membership", "rules": {"owner_required": owner_required}}},
    )
