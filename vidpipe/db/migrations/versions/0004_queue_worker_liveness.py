"""queue: jobs.heartbeat_at, jobs.crashes, jobs.deferrals (dead-worker detection, crash loops, outage retries)

Revision ID: 0004q
Revises: 0001
Create Date: 2026-12-02 22:20:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0004q"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("jobs", sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("jobs", sa.Column("crashes", sa.Integer(), server_default=sa.text("0"), nullable=False))
    op.add_column("jobs", sa.Column("deferrals", sa.Integer(), server_default=sa.text("0"), nullable=False))


def downgrade() -> None:
    op.drop_column("jobs", "deferrals")
    op.drop_column("jobs", "crashes")
    op.drop_column("jobs", "heartbeat_at")
