"""security: API key roles (read < ingest < admin); existing keys become admin. Merges the feature heads.

Revision ID: 0004s
Revises: 0002, 0003c, 0003p, 0003w
Create Date: 2026-12-02 22:30:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0004s"
down_revision = ("0002", "0003c", "0003p", "0003w")
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The server default fills the existing rows: every key made before roles could do everything.
    op.add_column("api_keys", sa.Column("role", sa.String(length=16), server_default="admin", nullable=False))
    op.create_check_constraint(op.f("ck_api_keys_role"), "api_keys", "role IN ('read', 'ingest', 'admin')")


def downgrade() -> None:
    op.drop_constraint(op.f("ck_api_keys_role"), "api_keys", type_="check")
    op.drop_column("api_keys", "role")
