"""client limits: an operator's hard limit on a client's requests in flight

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SQUAWK_ACCEPTED = {
    "prefer-text-field": (
        "a new table, and `name` is api_clients.name's varchar(100), the client it limits"
    ),
    "prefer-bigint-over-int": (
        "a count of one client's requests in flight, bounded far below 2^31 by the workers' "
        "own limits"
    ),
}


def upgrade() -> None:
    op.create_table(
        "client_limits",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("max_in_flight", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "max_in_flight > 0", name=op.f("ck_client_limits_max_in_flight_positive")
        ),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_client_limits")),
    )


def downgrade() -> None:
    op.drop_table("client_limits")
