"""api clients

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The hazards the migration lint (dev/migration_lint.py) finds in this migration, each with
# the reason it is safe here.
SQUAWK_ACCEPTED = {
    "prefer-text-field": (
        "varchar(n) holds the length limits of the contract; raising one later changes no row, "
        "and its brief ACCESS EXCLUSIVE lock waits no longer than lock_timeout"
    ),
}


def upgrade() -> None:
    op.create_table(
        "api_clients",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("key_prefix", sa.String(length=16), nullable=False),
        sa.Column("key_hash", sa.LargeBinary(), nullable=False),
        sa.Column("scopes", sa.ARRAY(sa.String(length=50)), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_clients")),
    )
    op.create_index("ix_api_clients_name", "api_clients", ["name"])
    op.create_index("uq_api_clients_key_hash", "api_clients", ["key_hash"], unique=True)


def downgrade() -> None:
    op.drop_table("api_clients")
