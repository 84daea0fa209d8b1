"""transcode: renditions.quality (sampled VMAF, per-title target and CRF). Merges the 0004 heads.

Revision ID: 0005t
Revises: 0004s, 0004q
Create Date: 2026-12-02 23:15:00.000000
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005t"
down_revision = ("0004s", "0004q")
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("renditions", sa.Column("quality", postgresql.JSONB(astext_type=sa.Text()), nullable=True))


def downgrade() -> None:
    op.drop_column("renditions", "quality")
