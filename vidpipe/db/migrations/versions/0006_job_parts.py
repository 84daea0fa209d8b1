"""queue: jobs.part, so one stage of an asset can run as many live jobs at once (the chunks of a long video).

The one-live-job-per-(asset, stage) rule becomes one per (asset, stage, part); every existing job is part 0.

Revision ID: 0006c
Revises: 0005t
Create Date: 2026-12-03 02:30:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0006c"
down_revision = "0005t"
branch_labels = None
depends_on = None

_LIVE = sa.text("status IN ('queued', 'running')")


def upgrade() -> None:
    op.add_column("jobs", sa.Column("part", sa.Integer(), nullable=False, server_default=sa.text("0")))
    op.drop_index("uq_jobs_live_asset_stage", table_name="jobs", postgresql_where=_LIVE)
    op.create_index("uq_jobs_live_asset_stage", "jobs", ["asset_id", "stage", "part"], unique=True,
                    postgresql_where=_LIVE)


def downgrade() -> None:
    op.execute("DELETE FROM jobs WHERE part <> 0 AND status IN ('queued', 'running')")
    op.drop_index("uq_jobs_live_asset_stage", table_name="jobs", postgresql_where=_LIVE)
    op.create_index("uq_jobs_live_asset_stage", "jobs", ["asset_id", "stage"], unique=True, postgresql_where=_LIVE)
    op.drop_column("jobs", "part")
