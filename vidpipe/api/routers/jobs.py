"""/v1/jobs: inspect the queue, retry dead or failed work, cancel."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Query
from sqlalchemy import select
from sqlalchemy.orm import Session

from vidpipe.api.deps import AdminCallerDep, SessionDep
from vidpipe.api.pagination import CursorParam, LimitParam, decode_id, encode_id
from vidpipe.api.schemas import ErrorBody, JobList, JobPublic, JobStatus
from vidpipe.db import assets
from vidpipe.db.models import Job
from vidpipe.errors import NotFoundError
from vidpipe.jobs import queue as jobs
from vidpipe.states import AssetStatus

JobId = Annotated[int, Path(ge=1, le=2**63 - 1)]  # a bigint column

router = APIRouter(prefix="/jobs", tags=["jobs"], responses={401: {"model": ErrorBody}})


def _public(job: Job) -> JobPublic:
    return JobPublic(id=job.id, asset_id=job.asset_id, stage=job.stage, status=JobStatus(job.status),
                     priority=job.priority, attempts=job.attempts, max_attempts=job.max_attempts,
                     progress_percent=round(max(0.0, min(1.0, job.progress)) * 100, 1),
                     cancel_requested=job.cancel_requested, last_error_code=job.last_error_code,
                     last_error=job.last_error, run_after=job.run_after, created_at=job.created_at,
                     started_at=job.started_at, finished_at=job.finished_at)


@router.get("", response_model=JobList)
def list_jobs(
    session: SessionDep, caller: AdminCallerDep,
    status: Annotated[JobStatus | None, Query()] = None,
    stage: Annotated[str | None, Query(max_length=32)] = None,
    asset_id: Annotated[uuid.UUID | None, Query()] = None,
    limit: LimitParam = 50,
    cursor: CursorParam = None,
) -> JobList:
    """Newest first. `status=dead` is the dead-letter view."""
    stmt = select(Job)
    if status:
        stmt = stmt.where(Job.status == status)
    if stage:
        stmt = stmt.where(Job.stage == stage)
    if asset_id:
        stmt = stmt.where(Job.asset_id == asset_id)
    if cursor:
        stmt = stmt.where(Job.id < decode_id(cursor))
    rows = session.scalars(stmt.order_by(Job.id.desc()).limit(limit + 1)).all()
    page = rows[:limit]
    return JobList(items=[_public(j) for j in page], next_cursor=encode_id(page[-1].id) if len(rows) > limit else None)


def _refreshed(session: Session, job_id: int) -> JobPublic:
    session.expire_all()
    job = session.get(Job, job_id)
    if job is None:
        raise NotFoundError(f"job {job_id} not found")
    return _public(job)


@router.get("/{job_id}", response_model=JobPublic, responses={404: {"model": ErrorBody}})
def get_job(job_id: JobId, session: SessionDep, caller: AdminCallerDep) -> JobPublic:
    return _refreshed(session, job_id)


@router.post("/{job_id}/retry", response_model=JobPublic,
             responses={404: {"model": ErrorBody}, 409: {"model": ErrorBody}})
def retry_job(job_id: JobId, session: SessionDep, caller: AdminCallerDep) -> JobPublic:
    """Requeue a dead, failed or cancelled job with a fresh attempt budget; its asset is processing again."""
    job = jobs.retry(session, job_id, actor=caller)
    if job.asset_id is not None:
        asset = assets.get_asset(session, job.asset_id, lock=True)
        assets.set_status(session, asset, AssetStatus.PROCESSING, actor=caller)
    session.commit()
    return _refreshed(session, job_id)


@router.post("/{job_id}/cancel", response_model=JobPublic,
             responses={404: {"model": ErrorBody}, 409: {"model": ErrorBody}})
def cancel_job(job_id: JobId, session: SessionDep, caller: AdminCallerDep) -> JobPublic:
    """A queued job is cancelled at once; a running one is asked to stop at its next heartbeat."""
    jobs.cancel(session, job_id, actor=caller)
    session.commit()
    return _refreshed(session, job_id)
