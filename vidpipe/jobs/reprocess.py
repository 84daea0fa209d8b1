"""Re-run a stage (and what depends on it) without re-uploading: one asset, or every asset missing it."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.orm import Session

from vidpipe.db import assets, events
from vidpipe.db.models import Asset, Job
from vidpipe.jobs import queue as jobs
from vidpipe.stages import registry
from vidpipe.states import ENDED_UNSUCCESSFULLY, AssetStatus, JobStatus


def reprocess_asset(session: Session, asset_id: uuid.UUID, stage: str, *, actor: str, max_attempts: int = 5,
                    priority: int = 0) -> int | None:
    """Queue `stage` for an asset; the stages after it follow when it succeeds."""
    spec = registry.get_stage(stage)
    asset = assets.get_asset(session, asset_id, lock=True)
    latest = assets.latest_stage_status(session, asset_id)
    missing = [dep for dep in spec.after if dep not in latest or latest[dep].status != JobStatus.SUCCEEDED]
    if missing:  # run the earliest missing prerequisite instead; the rest follows from it
        return reprocess_asset(session, asset_id, missing[0], actor=actor, max_attempts=max_attempts,
                               priority=priority)
    job_id = jobs.enqueue(session, asset.id, stage, actor=actor, priority=priority + spec.priority,
                          max_attempts=max_attempts)
    events.record(session, "asset.reprocess_requested", actor=actor, asset_id=asset.id, stage=stage,
                  stages=registry.downstream(stage))
    assets.set_status(session, asset, AssetStatus.PROCESSING, actor=actor)
    return job_id


def failed_assets(session: Session) -> list[uuid.UUID]:
    """Assets that ended `failed` and have no live job: what to re-run from the start after an upgrade."""
    live = select(Job.id).where(Job.asset_id == Asset.id, Job.status.in_(jobs.LIVE)).exists()
    rows = session.scalars(select(Asset.id).where(Asset.status == AssetStatus.FAILED, ~live).order_by(Asset.created_at))
    return list(rows.all())


def assets_missing_stage(session: Session, stage: str) -> list[uuid.UUID]:
    """Assets whose latest run of `stage` did not succeed (or that never ran it), and none is live."""
    registry.get_stage(stage)
    latest = (select(Job.asset_id, Job.status).where(Job.stage == stage)
              .order_by(Job.asset_id, Job.id.desc()).ext(distinct_on(Job.asset_id)).subquery())
    rows = session.execute(
        select(Asset.id).outerjoin(latest, latest.c.asset_id == Asset.id)
        .where((latest.c.status.is_(None)) | (latest.c.status.in_(ENDED_UNSUCCESSFULLY)))
        .order_by(Asset.created_at)
    ).scalars().all()
    return list(rows)
