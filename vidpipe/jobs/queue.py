"""The work queue: SQL on the `jobs` table. Claims use FOR UPDATE SKIP LOCKED; leases fence stale workers.

A live worker holds a session-level advisory lock (its *presence*) on a connection of its own. A running job
whose worker's presence is gone and whose heartbeat is older than a grace belongs to a dead worker: its lease
is cut short so any worker reclaims it at once instead of after the full lease.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import func, literal_column, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from vidpipe.db import events
from vidpipe.db.models import Job
from vidpipe.db.models.core import JOB_RUN_SQL
from vidpipe.errors import ConflictError, NotFoundError
from vidpipe.states import ENDED_UNSUCCESSFULLY, LIVE_JOB_STATUSES, JobStatus, sql_literal

# The states as the raw SQL below spells them, from the one enum (vidpipe.states).
QUEUED, RUNNING, DEAD = sql_literal(JobStatus.QUEUED), sql_literal(JobStatus.RUNNING), sql_literal(JobStatus.DEAD)
LIVE_SQL = sql_literal(*LIVE_JOB_STATUSES)

NOTIFY_CHANNEL = "vidpipe_jobs"
LIVE = LIVE_JOB_STATUSES
# First key of every worker's presence lock (pg_advisory_lock(PRESENCE_LOCK_SPACE, hashtext(worker_id))).
PRESENCE_LOCK_SPACE = 30320
WORKER_DIED = "worker_died"


@dataclass(frozen=True)
class ClaimedJob:
    id: int
    asset_id: uuid.UUID | None
    stage: str
    attempt: int
    max_attempts: int
    payload: dict[str, Any]
    reclaimed: bool  # its previous lease expired (a worker died or hung)
    crashes: int = 0  # earlier attempts whose worker died
    deferrals: int = 0  # earlier infrastructure outages (not counted in attempt)


def enqueue(session: Session, asset_id: uuid.UUID | None, stage: str, *, actor: str, priority: int = 0,
            max_attempts: int = 5, payload: dict[str, Any] | None = None, part: int = 0) -> int | None:
    """Queue a stage (or one part of it) for an asset in the caller's transaction; a live job for the same
    asset, stage, part and run (payload "run": the parts of a chunked transcode; else none) is reused."""
    stmt = (
        insert(Job)
        .values(asset_id=asset_id, stage=stage, status=JobStatus.QUEUED, priority=priority, max_attempts=max_attempts,
                payload=payload or {}, attempts=0, progress=0.0, cancel_requested=False, part=part)
        .on_conflict_do_nothing(index_elements=["asset_id", "stage", "part", text(JOB_RUN_SQL)],
                                index_where=text(f"status IN ({LIVE_SQL})"))
        .returning(Job.id)
    )
    job_id = session.execute(stmt).scalar()
    if job_id is not None:
        events.record(session, "job.queued", actor=actor, asset_id=asset_id, job_id=job_id, stage=stage)
        # Delivered at commit, so a worker never wakes for a job it cannot see yet.
        session.execute(text("SELECT pg_notify(:c, :p)"), {"c": NOTIFY_CHANNEL, "p": stage})
    return job_id


_CLAIM_SQL = text(f"""
WITH next AS (
    SELECT id, status AS previous_status FROM jobs
    WHERE (status = {QUEUED} AND run_after <= now())
       -- a reclaim past the limit is not claimed: the sweep buries it (dead, "worker died N times")
       OR (status = {RUNNING} AND lease_expires_at < now() AND attempts < max_attempts)
    ORDER BY status = {RUNNING} DESC, priority DESC, run_after, id  -- a dead worker's job resumes first
    FOR UPDATE SKIP LOCKED
    LIMIT 1
)
UPDATE jobs SET status = {RUNNING}, attempts = jobs.attempts + 1, worker_id = :worker,
       crashes = jobs.crashes + (next.previous_status = {RUNNING})::int,
       lease_expires_at = now() + make_interval(secs => :lease), heartbeat_at = now(), started_at = now(),
       progress = 0
FROM next WHERE jobs.id = next.id
RETURNING jobs.id, jobs.asset_id, jobs.stage, jobs.attempts, jobs.max_attempts, jobs.payload,
          next.previous_status = {RUNNING} AS reclaimed, jobs.crashes, jobs.deferrals
""")


def _claimed(row: Any) -> ClaimedJob:
    return ClaimedJob(row.id, row.asset_id, row.stage, row.attempts, row.max_attempts, row.payload,
                      getattr(row, "reclaimed", False), row.crashes, row.deferrals)


def claim(session: Session, worker_id: str, lease_seconds: float) -> ClaimedJob | None:
    row = session.execute(_CLAIM_SQL, {"worker": worker_id, "lease": lease_seconds}).first()
    if row is None:
        return None
    job = _claimed(row)
    events.record(session, "job.claimed", actor=f"worker:{worker_id}", asset_id=job.asset_id, job_id=job.id,
                  stage=job.stage, attempt=job.attempt, reclaimed=job.reclaimed)
    return job


def _owned(job: ClaimedJob, worker_id: str):
    return (Job.id == job.id) & (Job.worker_id == worker_id) & (Job.status == JobStatus.RUNNING) & (
        Job.attempts == job.attempt)


def heartbeat(session: Session, job: ClaimedJob, worker_id: str, lease_seconds: float,
              progress: float | None = None) -> tuple[bool, bool]:
    """Extend the lease. Returns (still_ours, cancel_requested)."""
    values: dict[str, Any] = {"lease_expires_at": func.now() + timedelta(seconds=lease_seconds),
                              "heartbeat_at": func.now()}
    if progress is not None:
        values["progress"] = max(0.0, min(1.0, progress))
    row = session.execute(update(Job).where(_owned(job, worker_id)).values(**values)
                          .returning(Job.cancel_requested)).first()
    return (row is not None, bool(row and row.cancel_requested))


def finish(session: Session, job: ClaimedJob, worker_id: str, status: str, *, error_code: str | None = None,
           error: str | None = None, retry_in: timedelta | None = None, spend_attempt: bool = True) -> bool:
    """End an attempt. False if the lease was lost meanwhile (another worker owns the job now).

    `spend_attempt=False` (a retry after an infrastructure outage) gives the attempt back and counts a deferral."""
    values: dict[str, Any] = {"lease_expires_at": None, "last_error_code": error_code, "last_error": error}
    if retry_in is not None:
        values |= {"status": JobStatus.QUEUED, "run_after": func.now() + retry_in, "worker_id": None}
        if not spend_attempt:
            values |= {"attempts": Job.attempts - 1, "deferrals": Job.deferrals + 1}
    else:
        values |= {"status": status, "finished_at": func.now()}
        if status == JobStatus.SUCCEEDED:
            values["progress"] = 1.0
    done = session.execute(update(Job).where(_owned(job, worker_id)).values(**values).returning(Job.id)).first()
    if done is None:
        return False
    event = "job.retry_scheduled" if retry_in is not None else f"job.{status}"
    detail: dict[str, Any] = {"stage": job.stage, "attempt": job.attempt}
    if error:
        detail |= {"error_code": error_code, "error": error}
    if retry_in is not None:
        detail["retry_in_seconds"] = round(retry_in.total_seconds(), 3)
        detail["spent_attempt"] = spend_attempt
    events.record(session, event, actor=f"worker:{worker_id}", asset_id=job.asset_id, job_id=job.id, **detail)
    return True


def release(session: Session, job: ClaimedJob, worker_id: str) -> bool:
    """Give a job back untouched (graceful shutdown): the attempt does not count."""
    done = session.execute(update(Job).where(_owned(job, worker_id)).values(
        status=JobStatus.QUEUED, worker_id=None, lease_expires_at=None, attempts=Job.attempts - 1, run_after=func.now(),
    ).returning(Job.id)).first()
    if done:
        events.record(session, "job.released", actor=f"worker:{worker_id}", asset_id=job.asset_id, job_id=job.id,
                      stage=job.stage)
        session.execute(text("SELECT pg_notify(:c, :p)"), {"c": NOTIFY_CHANNEL, "p": job.stage})
    return done is not None


def retry(session: Session, job_id: int, *, actor: str) -> Job:
    """Requeue a dead, failed or cancelled job with a fresh attempt budget."""
    asset_id = session.scalar(select(Job.asset_id).where(Job.id == job_id))
    if asset_id is not None:  # asset before job, like every other writer of both (no lock-order deadlock)
        session.execute(text("SELECT 1 FROM assets WHERE id = :id FOR UPDATE"), {"id": asset_id})
    job = session.get(Job, job_id, with_for_update=True)
    if job is None:
        raise NotFoundError(f"job {job_id} not found")
    if job.status not in ENDED_UNSUCCESSFULLY:
        raise ConflictError(f"job {job_id} is {job.status}; only dead, failed or cancelled jobs can be retried")
    live = session.scalar(select(Job.id).where(Job.asset_id == job.asset_id, Job.stage == job.stage,
                                               Job.part == job.part, Job.status.in_(LIVE),
                                               literal_column(JOB_RUN_SQL) == int(job.payload.get("run") or 0)))
    if live is not None:
        raise ConflictError(f"job {live} for the same stage is already {('queued or running')}")
    job.status, job.attempts, job.run_after, job.finished_at = JobStatus.QUEUED, 0, func.now(), None
    job.crashes = job.deferrals = 0
    job.cancel_requested, job.progress = False, 0.0
    events.record(session, "job.retried", actor=actor, asset_id=job.asset_id, job_id=job.id, stage=job.stage)
    session.execute(text("SELECT pg_notify(:c, :p)"), {"c": NOTIFY_CHANNEL, "p": job.stage})
    return job


def cancel(session: Session, job_id: int, *, actor: str) -> Job:
    """Queued jobs are cancelled at once; running ones are asked to stop at their next heartbeat."""
    job = session.get(Job, job_id, with_for_update=True)
    if job is None:
        raise NotFoundError(f"job {job_id} not found")
    if job.status == JobStatus.QUEUED:
        job.status, job.finished_at = JobStatus.CANCELLED, func.now()
    elif job.status == JobStatus.RUNNING:
        job.cancel_requested = True
    else:
        raise ConflictError(f"job {job_id} is already {job.status}")
    events.record(session, "job.cancel_requested", actor=actor, asset_id=job.asset_id, job_id=job.id,
                  stage=job.stage)
    return job


def has_live_jobs(session: Session, asset_id: uuid.UUID) -> bool:
    return session.scalar(select(Job.id).where(Job.asset_id == asset_id, Job.status.in_(LIVE)).limit(1)) is not None


def queue_depth(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Job).where(Job.status == JobStatus.QUEUED)) or 0


# --- dead workers -----------------------------------------------------------------------------------------
def hold_presence(conn: Any, worker_id: str) -> None:
    """Take this worker's presence lock on `conn` (a psycopg connection of its own, held for the worker's life).

    Its backend ends when the process dies, and the lock with it. False (another session holds the same key:
    a hash collision, or this worker's own previous session not yet gone) is fine: peers see it held."""
    conn.execute("SELECT pg_try_advisory_lock(%s, hashtext(%s))", (PRESENCE_LOCK_SPACE, worker_id))


_EXPIRE_ORPHANS_SQL = text(f"""
WITH present AS (
    SELECT objid::bigint AS key FROM pg_locks
    WHERE locktype = 'advisory' AND granted AND classid = :space AND objsubid = 2
      AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
), orphans AS (
    SELECT id FROM jobs
    WHERE status = {RUNNING} AND lease_expires_at > now()
      AND coalesce(heartbeat_at, started_at) < now() - make_interval(secs => :grace)
      -- right after a server restart no worker has reconnected yet: absence means nothing until they could have
      AND pg_postmaster_start_time() < now() - make_interval(secs => :restart_grace)
      AND (hashtext(worker_id)::bigint & 4294967295) NOT IN (SELECT key FROM present)
    FOR UPDATE SKIP LOCKED  -- never wait: a row busy elsewhere is looked at again in the next sweep
)
UPDATE jobs SET lease_expires_at = now() FROM orphans WHERE jobs.id = orphans.id
RETURNING jobs.id, jobs.asset_id, jobs.stage, jobs.worker_id
""")


def expire_orphans(session: Session, *, grace_seconds: float, restart_grace_seconds: float) -> list[int]:
    """End the leases of running jobs whose worker is gone (no presence lock, no recent heartbeat)."""
    rows = session.execute(_EXPIRE_ORPHANS_SQL, {"space": PRESENCE_LOCK_SPACE, "grace": grace_seconds,
                                                 "restart_grace": restart_grace_seconds}).all()
    for row in rows:
        events.record(session, "job.worker_lost", actor="queue", asset_id=row.asset_id, job_id=row.id,
                      stage=row.stage, worker=row.worker_id)
    if rows:
        session.execute(text("SELECT pg_notify(:c, :p)"), {"c": NOTIFY_CHANNEL, "p": "reclaim"})
    return [row.id for row in rows]


_CRASH_LOOPED = f"status = {RUNNING} AND lease_expires_at < now() AND attempts >= max_attempts"


def crash_looped(session: Session) -> list[tuple[int, uuid.UUID | None]]:
    """(job id, asset id) of jobs whose worker died on their last allowed attempt."""
    return [(r.id, r.asset_id) for r in session.execute(text(f"SELECT id, asset_id FROM jobs WHERE {_CRASH_LOOPED}"))]


_BURY_SQL = text(f"""
UPDATE jobs SET status = {DEAD}, crashes = crashes + 1, worker_id = NULL, lease_expires_at = NULL,
       finished_at = now(), last_error_code = :code, last_error = 'worker died ' || (crashes + 1) || ' times'
WHERE id = :id AND {_CRASH_LOOPED}
RETURNING id, asset_id, stage, attempts, max_attempts, payload, crashes, deferrals, last_error
""")


def bury(session: Session, job_id: int, *, actor: str) -> tuple[ClaimedJob, str] | None:
    """Mark a crash-looped job dead (lock its asset first). Returns it and its reason, or None if it moved on."""
    row = session.execute(_BURY_SQL, {"id": job_id, "code": WORKER_DIED}).first()
    if row is None:
        return None
    job = _claimed(row)
    events.record(session, "job.dead", actor=actor, asset_id=job.asset_id, job_id=job.id, stage=job.stage,
                  attempt=job.attempt, error_code=WORKER_DIED, error=row.last_error, crashes=job.crashes)
    return job, row.last_error
