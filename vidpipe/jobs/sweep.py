"""Workers watch each other: a dead worker's jobs are reclaimed within seconds, and a job that keeps killing its
worker is buried (dead, "worker died N times", dead-lettered) instead of taking down worker after worker."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from vidpipe.db import assets
from vidpipe.db.models import Asset
from vidpipe.jobs import deadletters
from vidpipe.jobs import queue as jobs
from vidpipe.runtime import Runtime
from vidpipe.states import AssetStatus

log = logging.getLogger(__name__)


@dataclass
class SweepResult:
    reclaimable: list[int] = field(default_factory=list)  # jobs of dead workers, free to claim now
    buried: list[int] = field(default_factory=list)  # crash-looped jobs, now dead


def sweep(rt: Runtime, *, actor: str) -> SweepResult:
    """One pass; every worker runs it about once a second (it is cheap and safe to run concurrently)."""
    st = rt.settings
    result = SweepResult()
    with rt.db.session() as s, s.begin():
        result.reclaimable = jobs.expire_orphans(s, grace_seconds=st.queue.presence_grace_seconds,
                                                 restart_grace_seconds=st.queue.restart_grace_seconds)
    if result.reclaimable:
        log.warning("queue.worker_lost", extra={"jobs": result.reclaimable})
    with rt.db.session() as s:
        looped = jobs.crash_looped(s)
    for job_id, asset_id in looped:
        if _bury(rt, job_id, asset_id, actor):
            result.buried.append(job_id)
    return result


def _bury(rt: Runtime, job_id: int, asset_id, actor: str) -> bool:
    with rt.db.session() as s, s.begin():
        if asset_id is not None:  # asset before job, like every writer of both (no lock-order deadlock)
            assets.lock_asset_row(s, asset_id)
        buried = jobs.bury(s, job_id, actor=actor)
        if buried is None:  # another worker's sweep got there first
            return False
        job, reason = buried
        asset = s.get(Asset, asset_id) if asset_id is not None else None
        if asset is not None:
            assets.set_status(s, asset, AssetStatus.FAILED, actor=actor, error_code=jobs.WORKER_DIED,
                              error=f"{job.stage} gave up: {reason}")
    log.warning("job.dead", extra={"job": job.id, "stage": job.stage, "error_code": jobs.WORKER_DIED,
                                 "error": reason})
    deadletters.publish(rt.dead_letter_sinks, job, jobs.WORKER_DIED, reason)
    return True
