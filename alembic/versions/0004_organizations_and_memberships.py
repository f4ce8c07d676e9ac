"""organizations and memberships, and the rule that keeps an owner

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The hazards the migration lint (dev/migration_lint.py) finds in this migration, each with
# the reason it is safe here.
SQUAWK_ACCEPTED = {
    "prefer-text-field": (
        "varchar(n) holds the length limits of the contract; raising one later changes no row, "
        "and its brief ACCESS EXCLUSIVE lock waits no longer than lock_timeout"
    ),
    "prefer-bigint-over-int": "`version` counts the changes of one row: never near 2^31",
}

# An organization that has members keeps an owner, checked after every change of its members,
# whoever makes it (a route, a cascade from a deleted user, a psql session). The check first
# locks the organization's row, so the checks of two transactions touching the same
# organization run one after the other; a VOLATILE function takes a fresh snapshot for each
# query, so the second one counts the owners the first left behind (README, "How correctness
# is kept").
_KEEP_AN_OWNER = """
CREATE FUNCTION memberships_keep_an_owner() RETURNS trigger
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    organization bigint := CASE WHEN TG_OP = 'DELETE' THEN OLD.organization_id
                                ELSE NEW.organization_id END;
BEGIN
    PERFORM 1 FROM organizations WHERE id = organization FOR NO KEY UPDATE;
    IF FOUND
        AND EXISTS (SELECT 1 FROM memberships WHERE organization_id = organization)
        AND NOT EXISTS (
            SELECT 1 FROM memberships WHERE organization_id = organization AND role = 'owner'
        )
    THEN
        RAISE EXCEPTION 'organization % would have members but no owner', organization
            USING ERRCODE = 'check_violation', CONSTRAINT = 'owner_required',
                  TABLE = 'memberships', DETAIL = organization::text;
    END IF;
    RETURN NULL;
END
$$
"""


def upgrade() -> None:
    op.create_table(
        "organizations",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("slug", sa.String(length=63), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.CheckConstraint("slug = lower(slug)", name=op.f("ck_organizations_slug_lower")),
        sa.CheckConstraint("version >= 1", name=op.f("ck_organizations_version_positive")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organizations")),
    )
    op.create_index("uq_organizations_slug", "organizations", ["slug"], unique=True)
    op.create_index("ix_organizations_created_at_id", "organizations", ["created_at", "id"])
    op.create_index(
        "ix_organizations_slug_pattern",
        "organizations",
        ["slug"],
        postgresql_ops={"slug": "text_pattern_ops"},
    )
    op.create_table(
        "memberships",
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.CheckConstraint(
            "role IN ('owner', 'admin', 'member')", name=op.f("ck_memberships_role_known")
        ),
        sa.CheckConstraint("version >= 1", name=op.f("ck_memberships_version_positive")),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_memberships_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_memberships_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("organization_id", "user_id", name=op.f("pk_memberships")),
    )
    op.create_index(
        "ix_memberships_user_id_organization_id", "memberships", ["user_id", "organization_id"]
    )
    op.create_index(
        "ix_memberships_organization_id_created_at_user_id",
        "memberships",
        ["organization_id", "created_at", "user_id"],
    )
    op.create_index(
        "ix_memberships_user_id_created_at_organization_id",
        "memberships",
        ["user_id", "created_at", "organization_id"],
    )
    op.create_index(
        "ix_memberships_owners",
        "memberships",
        ["organization_id"],
        postgresql_where=sa.text("role = 'owner'"),
    )
    op.execute(_KEEP_AN_OWNER)
    op.execute(
        "CREATE TRIGGER keep_an_owner AFTER INSERT OR UPDATE OR DELETE ON memberships"
        " FOR EACH ROW EXECUTE FUNCTION memberships_keep_an_owner()"
    )


def downgrade() -> None:
    op.drop_table("memberships")
    op.execute("DROP FUNCTION memberships_keep_an_owner()")
    op.drop_table("organizations")
