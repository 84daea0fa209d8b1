"""The shell around a stage: fetch the source, run, publish outputs, record, enqueue what comes next."""

from __future__ import annotations

import contextlib
import logging
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from vidpipe.contract import StageInput, StageResult
from vidpipe.db import assets
from vidpipe.db.database import database_unavailable
from vidpipe.db.models import Asset
from vidpipe.db.profiles import resolve_profile
from vidpipe.db.understanding import has_embeddings_table
from vidpipe.errors import JobCancelledError, VidpipeError, is_retryable, public_message
from vidpipe.jobs import deadletters
from vidpipe.jobs import queue as jobs
from vidpipe.jobs.queue import ClaimedJob
from vidpipe.jobs.retry import decide
from vidpipe.runtime import Runtime
from vidpipe.search.index import ensure_search_indexes
from vidpipe.stages import registry
from vidpipe.states import AssetStatus, JobStatus

log = logging.getLogger(__name__)
_OUTCOME_RETRY_SECONDS = (0.2, 1.0)  # first and largest wait between tries to record an outcome


@dataclass
class JobRun:
    """A job in progress on this worker: the heartbeat thread reads progress and sets the stop flags."""

    job: ClaimedJob
    progress: float = 0.0
    cancel_requested: bool = False
    lease_lost: bool = False
    shutdown: bool = False
    started: float = field(default_factory=time.monotonic)

    def should_stop(self) -> bool:
        return self.cancel_requested or self.lease_lost or self.shutdown


def _asset_of(job: ClaimedJob) -> uuid.UUID:
    """The asset a stage job works on. The jobs table allows a job without one; every job the runner gets was
    enqueued for an asset (ingest, reprocess, the next stage), so a missing one is a bug, said plainly."""
    if job.asset_id is None:
        raise VidpipeError(f"job {job.id} ({job.stage}) has no asset to work on", code="job_without_asset")
    return job.asset_id


class StageRunner:
    def __init__(self, runtime: Runtime, worker_id: str) -> None:
        self.rt = runtime
        self.worker_id = worker_id
        self.actor = f"worker:{worker_id}"

    def work_dir_for(self, job: ClaimedJob) -> Path:
        return self.rt.settings.scratch_root / f"job-{job.id}-a{job.attempt}"

    def _clear_earlier_attempts(self, job: ClaimedJob) -> None:
        # A worker killed mid-stage leaves its work dir; whoever runs the job next removes it.
        root = self.rt.settings.scratch_root
        for stale in root.glob(f"job-{job.id}-a*"):
            shutil.rmtree(stale, ignore_errors=True)

    def run(self, run: JobRun) -> str:
        """Run one claimed job to an end state; returns that state."""
        job = run.job
        log.info("stage.started", extra={"job": job.id, "stage": job.stage, "asset": str(job.asset_id),
                                         "attempt": job.attempt})
        self._clear_earlier_attempts(job)
        work_dir = self.work_dir_for(job)
        try:
            work_dir.mkdir(parents=True)
            result, asset = self._execute(run, work_dir)
            sizes = self._publish_current(job, asset, result)
            return self._until_recorded(partial(self._succeed, job, result, sizes))
        except JobCancelledError:
            return self._until_recorded(partial(self._stopped, run))
        except Exception as exc:  # every failure becomes a recorded decision, never a dead worker
            error = database_unavailable(exc) or exc
            if run.should_stop() and is_retryable(error):  # e.g. ffmpeg got the same Ctrl-C as we did
                return self._until_recorded(partial(self._stopped, run))
            return self._until_recorded(partial(self._fail, job, error))
        finally:
            shutil.rmtree(work_dir, ignore_errors=True)

    def _until_recorded(self, record: Callable[[], str]) -> str:
        """Record an outcome, waiting out a database outage (up to job_outcome_wait_seconds) instead of
        leaving the job to sit out its lease and spend an attempt."""
        deadline = time.monotonic() + self.rt.settings.queue.outcome_wait_seconds
        wait, most = _OUTCOME_RETRY_SECONDS
        while True:
            try:
                return record()
            except Exception as exc:
                if database_unavailable(exc) is None or time.monotonic() + wait > deadline:
                    raise
                log.warning("job.outcome_waiting_for_database", extra={"wait_seconds": wait})
                time.sleep(wait)
                wait = min(most, wait * 2)

    def _execute(self, run: JobRun, work_dir: Path) -> tuple[StageResult, Asset]:
        job = run.job
        spec = registry.runnable(job.stage)
        with self.rt.db.session() as s, s.begin():
            asset = assets.get_asset(s, _asset_of(job), lock=True)
            assets.touch_asset(s, asset.id)  # the stage shows as running now
            if asset.status == AssetStatus.QUEUED:
                assets.set_status(s, asset, AssetStatus.PROCESSING, actor=self.actor)
            probe = assets.probe_of(s, asset.id)
            profile = resolve_profile(s, asset.profile)  # built-in or stored, as it is now
        stage_fn = spec.load()

        def progress(fraction: float) -> None:
            run.progress = max(0.0, min(1.0, float(fraction)))

        hook = spec.partial_hook()
        publish = partial(self._publish_partial, run, asset, hook) if hook is not None else None

        source_copy = (self.rt.media_store.local_copy(asset.original_key, work_dir) if spec.needs_source
                       else contextlib.nullcontext(work_dir / "no-source"))
        with source_copy as source:
            inp = StageInput(asset_id=asset.id, source_path=source, work_dir=work_dir / "out",
                             profile=profile, limits=self.rt.settings.limits, probe=probe,
                             progress=progress, should_stop=run.should_stop, title=asset.title,
                             description=asset.description, settings=self.rt.settings, payload=job.payload,
                             publish=publish)
            inp.work_dir.mkdir()
            result = stage_fn(inp)
        if run.should_stop():
            raise JobCancelledError("stopped before its results were saved")
        return result, asset

    def _publish(self, asset: Asset, result: StageResult) -> dict[str, int]:
        sizes = {}
        for out in result.outputs:
            stored = self.rt.media_store.put_file(f"{asset.id}/{out.key}", out.path, out.content_type)
            sizes[stored.key] = stored.size
        return sizes

    def _publish_current(self, job: ClaimedJob, asset: Asset, result: StageResult) -> dict[str, int] | None:
        """Store the outputs, unless the stage's guard says they no longer belong to the asset (then None). The
        guard and the upload hold the asset's row lock, which a reprocess takes to queue its run: a join's master
        either lands before the new run exists (and the new run replaces it) or not at all."""
        guard = registry.runnable(job.stage).publish_guard()
        if guard is None:
            return self._publish(asset, result)
        with self.rt.db.session() as s, s.begin():
            assets.lock_asset_row(s, asset.id)
            if not guard(s, job):
                log.info("stage.outputs_dropped", extra={"job": job.id, "stage": job.stage, "asset": str(asset.id),
                                                         "reason": "superseded"})
                return None
            return self._publish(asset, result)

    def _publish_partial(self, run: JobRun, asset: Asset, hook: Callable[..., list[str] | None],
                         result: StageResult) -> None:
        """Outputs a stage hands over before it ends: stored now, then its hook runs (if the job is still ours);
        the keys the hook returns are deleted after the commit, as in _succeed."""
        if run.should_stop():
            return
        self._publish(asset, result)
        stale: list[str] = []
        with self.rt.db.session() as s, s.begin():
            assets.lock_asset_row(s, asset.id)  # serialised with the asset's other completions (see _succeed)
            ours, _ = jobs.heartbeat(s, run.job, self.worker_id, self.rt.settings.queue.lease_seconds)
            if ours:
                stale = hook(s, self.rt, run.job, result, self.actor) or []
        self._delete_files(stale)

    def _succeed(self, job: ClaimedJob, result: StageResult, sizes: dict[str, int] | None) -> str:
        """Record the success; with `sizes` None (outputs not stored: _publish_current), nothing of the result."""
        with self.rt.db.session() as s, s.begin():
            assets.lock_asset_row(s, _asset_of(job))
            if not jobs.finish(s, job, self.worker_id, JobStatus.SUCCEEDED):
                s.rollback()
                log.warning("job.lease_lost", extra={"job": job.id})
                return "lost"
            spec = registry.runnable(job.stage)
            stale = [] if sizes is None else assets.save_stage_result(
                s, _asset_of(job), registry.artifact_stage(job.stage, job.payload), result, sizes,
                replace=spec.replaces_outputs)
            hook = spec.success_hook()
            if hook is not None:  # in this transaction: the work it queues exists exactly when this success does
                stale += hook(s, self.rt, job, result, self.actor) or []
            self._advance(s, job)
        self._delete_files(stale)
        if result.understanding is not None:
            with self.rt.db.session() as s:
                if has_embeddings_table(s):
                    ensure_search_indexes(s, result.understanding)
        log.info("stage.finished", extra={"job": job.id, "stage": job.stage, "asset": str(job.asset_id)})
        return JobStatus.SUCCEEDED

    def _delete_files(self, keys: list[str]) -> None:
        """Files a committed transaction stopped referencing (after the commit: a rollback keeps them)."""
        for key in keys:
            self.rt.media_store.delete(key)

    def _advance(self, s, job: ClaimedJob) -> None:
        latest = assets.latest_stage_status(s, _asset_of(job))
        succeeded = {stage for stage, j in latest.items() if j.status == JobStatus.SUCCEEDED}
        asset = assets.get_asset(s, _asset_of(job))
        for stage in registry.next_stages(job.stage, succeeded):
            jobs.enqueue(s, asset.id, stage, actor=self.actor, priority=registry.STAGES[stage].priority,
                         max_attempts=self.rt.settings.queue.max_attempts)
        latest = assets.latest_stage_status(s, _asset_of(job))
        # ... and nothing of it still queued or running (the parts of a chunked transcode outlive its stage job)
        if all(name in latest and latest[name].status == JobStatus.SUCCEEDED for name in registry.STAGES) and not (
                jobs.has_live_jobs(s, asset.id)):
            assets.set_status(s, asset, AssetStatus.READY, actor=self.actor)

    def _fail(self, job: ClaimedJob, exc: BaseException) -> str:
        st = self.rt.settings
        decision = decide(exc, job.attempt, job.max_attempts, base=st.queue.backoff_base_seconds,
                          cap=st.queue.backoff_max_seconds, deferrals=job.deferrals)
        code = exc.code if isinstance(exc, VidpipeError) else type(exc).__name__
        message = public_message(str(exc) or type(exc).__name__)  # users see it: no server paths
        log.warning("stage.failed", extra={"job": job.id, "stage": job.stage, "error_code": code,
                                           "retry": decision.retry_in is not None,
                                           "spent_attempt": decision.spend_attempt})
        with self.rt.db.session() as s, s.begin():
            # The asset before the job, as in _succeed and in the API's reprocess and delete: the other order
            # deadlocks against them.
            assets.lock_asset_row(s, _asset_of(job))
            if not jobs.finish(s, job, self.worker_id, decision.final_status or JobStatus.QUEUED, error_code=code,
                               error=message, retry_in=decision.retry_in, spend_attempt=decision.spend_attempt):
                return "lost"
            assets.touch_asset(s, _asset_of(job))  # the stage's status and error change
            if decision.final_status is not None:
                asset = s.get(Asset, _asset_of(job))
                if asset is None:
                    return decision.final_status
                reason = message if decision.final_status == JobStatus.FAILED else (
                    f"{job.stage} gave up after {job.attempt} attempts: {message}")
                assets.set_status(s, asset, AssetStatus.FAILED, actor=self.actor, error_code=code, error=reason)
        if decision.final_status == JobStatus.DEAD:  # after the commit: the database is the record, SQS only the alarm
            deadletters.publish(self.rt.dead_letter_sinks, job, code, message)
        return decision.final_status or "retrying"

    def _stopped(self, run: JobRun) -> str:
        job = run.job
        with self.rt.db.session() as s, s.begin():
            if run.cancel_requested:
                assets.lock_asset_row(s, _asset_of(job))  # asset before job (see _fail)
                if jobs.finish(s, job, self.worker_id, JobStatus.CANCELLED, error_code="cancelled", error="cancelled"):
                    asset = assets.get_asset(s, _asset_of(job))
                    assets.set_status(s, asset, AssetStatus.FAILED, actor=self.actor, error_code="cancelled",
                                      error=f"{job.stage} was cancelled")
                return JobStatus.CANCELLED
            if run.shutdown:
                assets.touch_asset(s, _asset_of(job))
                jobs.release(s, job, self.worker_id)
                return "released"
        return "lost"
