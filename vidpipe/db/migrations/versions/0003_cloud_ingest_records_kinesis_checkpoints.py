"""cloud: ingest records (idempotent stream ingest) and Kinesis checkpoints

Revision ID: 0003c
Revises: 0001
Create Date: 2026-11-23 16:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0003c"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ingest_records",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("record_key", sa.Text(), nullable=False),
        sa.Column("asset_id", sa.UUID(), nullable=True),
        sa.Column("stream", sa.Text(), nullable=False),
        sa.Column("shard_id", sa.String(length=128), nullable=False),
        sa.Column("sequence_number", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["asset_id"], ["assets.id"], name=op.f("fk_ingest_records_asset_id_assets"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ingest_records")),
        sa.UniqueConstraint("record_key", name=op.f("uq_ingest_records_record_key")),
    )
    op.create_index(op.f("ix_ingest_records_asset_id"), "ingest_records", ["asset_id"], unique=False)
    op.create_table(
        "kinesis_checkpoints",
        sa.Column("stream", sa.Text(), nullable=False),
        sa.Column("shard_id", sa.String(length=128), nullable=False),
        sa.Column("sequence_number", sa.String(length=128), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("stream", "shard_id", name=op.f("pk_kinesis_checkpoints")),
    )


def downgrade() -> None:
    op.drop_table("kinesis_checkpoints")
    op.drop_index(op.f("ix_ingest_records_asset_id"), table_name="ingest_records")
    op.drop_table("ingest_records")
