"""cache: asset_views (persisted popularity) and NOTIFY vidpipe_assets on every change to an asset's view

Revision ID: 0003p
Revises: 0001
Create Date: 2026-11-23 16:30:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0003p"
down_revision = "0001"
branch_labels = None
depends_on = None

# The asset id of the changed row (assets: id, the rest: asset_id), once per transaction and asset
# (PostgreSQL folds identical notifications of one transaction); delivered at commit.
_FUNCTION = """
CREATE FUNCTION vidpipe_notify_asset() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    row_data jsonb := to_jsonb(coalesce(NEW, OLD));
    id text := coalesce(row_data ->> 'asset_id', CASE WHEN TG_TABLE_NAME = 'assets' THEN row_data ->> 'id' END);
BEGIN
    IF id IS NOT NULL THEN
        PERFORM pg_notify('vidpipe_assets', id);
    END IF;
    RETURN NULL;
END $$;
"""
_TABLES = ("assets", "jobs", "artifacts", "renditions", "media_info")


def upgrade() -> None:
    op.create_table(
        "asset_views",
        sa.Column("asset_id", sa.UUID(), nullable=False),
        sa.Column("bucket_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("views", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["asset_id"], ["assets.id"], name=op.f("fk_asset_views_asset_id_assets"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("asset_id", "bucket_start", name=op.f("pk_asset_views")),
    )
    op.create_index("ix_asset_views_bucket_start", "asset_views", ["bucket_start"], unique=False)
    op.execute(_FUNCTION)
    for table in _TABLES:
        op.execute(f"CREATE TRIGGER {table}_notify_asset AFTER INSERT OR UPDATE OR DELETE ON {table} "
                   "FOR EACH ROW EXECUTE FUNCTION vidpipe_notify_asset()")


def downgrade() -> None:
    for table in _TABLES:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_notify_asset ON {table}")
    op.execute("DROP FUNCTION IF EXISTS vidpipe_notify_asset()")
    op.drop_index("ix_asset_views_bucket_start", table_name="asset_views")
    op.drop_table("asset_views")
