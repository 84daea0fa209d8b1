"""queue: one live job per (asset, stage, part, run), so a reprocess's chunk jobs queue beside a superseded run's.

A chunked transcode's parts carry their run (the planning transcode job's id) in payload->>'run'; with the run
out of the key, a new run's part n was silently not queued while the old run's part n was still live, and the new
run never joined. Every other job is run 0: enqueueing a stage twice stays a no-op.

Additive first: the new index is built while the old one still holds, then the old one goes. Down: the newest
run's live job of each (asset, stage, part) stays, older runs' live ones are cancelled (superseded, they publish
nothing), then the old index comes back.

Revision ID: 0007r
Revises: 0006c
Create Date: 2026-12-03 13:30:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0007r"
down_revision = "0006c"
branch_labels = None
depends_on = None

_LIVE = sa.text("status IN ('queued', 'running')")
_RUN = sa.text("coalesce((payload ->> 'run')::bigint, 0)")


def upgrade() -> None:
    op.create_index("uq_jobs_live_asset_stage_run", "jobs", ["asset_id", "stage", "part", _RUN], unique=True,
                    postgresql_where=_LIVE)
    op.drop_index("uq_jobs_live_asset_stage", table_name="jobs", postgresql_where=_LIVE)


def downgrade() -> None:
    op.execute("""
        UPDATE jobs SET status = 'cancelled', finished_at = now(), lease_expires_at = NULL,
               last_error_code = 'cancelled', last_error = 'superseded by a later run (downgrade)'
        FROM (SELECT id, row_number() OVER (
                  PARTITION BY asset_id, stage, part
                  ORDER BY coalesce((payload ->> 'run')::bigint, 0) DESC, id DESC) AS n
              FROM jobs WHERE status IN ('queued', 'running')) AS ranked
        WHERE jobs.id = ranked.id AND ranked.n > 1
    """)
    op.create_index("uq_jobs_live_asset_stage", "jobs", ["asset_id", "stage", "part"], unique=True,
                    postgresql_where=_LIVE)
    op.drop_index("uq_jobs_live_asset_stage_run", table_name="jobs", postgresql_where=_LIVE)
