"""Re-run a stage (and what follows it) without re-uploading: one asset, or every asset missing the stage."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, status
from sqlalchemy import select

from vidpipe.api.deps import AdminCallerDep, RuntimeDep, SessionDep
from vidpipe.api.schemas import (
    ErrorBody,
    ReprocessAccepted,
    ReprocessAllAccepted,
    ReprocessAllRequest,
    ReprocessRequest,
)
from vidpipe.db.models import Job
from vidpipe.errors import InputError
from vidpipe.jobs import queue as jobs
from vidpipe.jobs import reprocess
from vidpipe.stages import registry

router = APIRouter(tags=["reprocess"], responses={401: {"model": ErrorBody}})


@router.post("/assets/{asset_id}/reprocess", status_code=status.HTTP_202_ACCEPTED, response_model=ReprocessAccepted,
             responses={404: {"model": ErrorBody}, 422: {"model": ErrorBody}})
def reprocess_asset(asset_id: uuid.UUID, session: SessionDep, rt: RuntimeDep, caller: AdminCallerDep,
                    body: ReprocessRequest | None = None) -> ReprocessAccepted:
    """Queue `stage` (default: the first stage) for the asset; if a prerequisite is missing, that runs first."""
    stage = (body.stage if body else None) or next(iter(registry.STAGES))
    registry.get_stage(stage)
    job_id = reprocess.reprocess_asset(session, asset_id, stage, actor=caller,
                                       max_attempts=rt.settings.queue.max_attempts)
    if job_id is None:  # a live job already covers it: report that one
        job_id = session.scalar(select(Job.id).where(Job.asset_id == asset_id, Job.status.in_(jobs.LIVE))
                                .order_by(Job.id.desc()).limit(1))
    queued_stage = session.scalar(select(Job.stage).where(Job.id == job_id)) if job_id else stage
    session.commit()
    return ReprocessAccepted(asset_id=asset_id, stage=queued_stage or stage, job_id=job_id)


@router.post("/reprocess", status_code=status.HTTP_202_ACCEPTED, response_model=ReprocessAllAccepted,
             responses={422: {"model": ErrorBody}})
def reprocess_missing(body: ReprocessAllRequest, session: SessionDep, rt: RuntimeDep,
                      caller: AdminCallerDep) -> ReprocessAllAccepted:
    """Queue `stage` for every asset whose latest run of it did not succeed (and none is live);
    with `failed`, re-run every failed asset from its first stage."""
    if body.failed:
        stage = body.stage or next(iter(registry.STAGES))
        targets = reprocess.failed_assets(session)
    elif body.stage:
        stage, targets = body.stage, reprocess.assets_missing_stage(session, body.stage)
    else:
        raise InputError("give the stage to reprocess, or failed=true", code="unknown_stage")
    registry.get_stage(stage)
    queued = 0
    for asset_id in targets:
        if reprocess.reprocess_asset(session, asset_id, stage, actor=caller,
                                     max_attempts=rt.settings.queue.max_attempts) is not None:
            queued += 1
    session.commit()
    return ReprocessAllAccepted(stage=stage, queued=queued)
