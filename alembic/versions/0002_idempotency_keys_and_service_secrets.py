"""idempotency keys, service secrets, username prefix index

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The hazards the migration lint (dev/migration_lint.py) finds in this migration, each with
# the reason it is safe here.
SQUAWK_ACCEPTED = {
    "prefer-text-field": (
        "varchar(n) holds the length limits of the contract; raising one later changes no row, "
        "and its brief ACCESS EXCLUSIVE lock waits no longer than lock_timeout"
    ),
    "prefer-bigint-over-int": "`status` holds an HTTP status code",
    "require-concurrent-index-creation": (
        "written minutes after 0001 created users, before the service had served any traffic: "
        "the build found users empty"
    ),
}


def upgrade() -> None:
    op.create_table(
        "idempotency_keys",
        sa.Column("client", sa.String(length=100), nullable=False),
        sa.Column("route", sa.String(length=100), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("request_fingerprint", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("headers", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("client", "route", "key", name=op.f("pk_idempotency_keys")),
    )
    op.create_index("ix_idempotency_keys_expires_at", "idempotency_keys", ["expires_at"])
    op.create_table(
        "service_secrets",
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("value", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_service_secrets")),
    )
    # 256 bits from PostgreSQL's strong random source (gen_random_uuid), generated once here
    # so that every instance shares the key without anyone distributing it.
    op.execute(
        "INSERT INTO service_secrets (name, value) VALUES ('signing_key', "
        "sha256(convert_to(gen_random_uuid()::text || gen_random_uuid()::text, 'UTF8')))"
    )
    op.create_index(
        "ix_users_username_pattern",
        "users",
        [sa.literal_column("lower(username)").label("username_lower")],
        postgresql_ops={"username_lower": "text_pattern_ops"},
    )


def downgrade() -> None:
    op.drop_index("ix_users_username_pattern", table_name="users")
    op.drop_table("service_secrets")
    op.drop_table("idempotency_keys")
