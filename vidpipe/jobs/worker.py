"""A worker process: N job threads, a heartbeat, a sweep and a LISTEN thread. SIGTERM releases work cleanly.

The LISTEN connection also holds the worker's presence lock (vidpipe.jobs.queue): while it is held, peers know
this worker is alive; when the process dies the lock goes with its connection and peers reclaim its jobs in
seconds (vidpipe.jobs.sweep, run by a sweep thread in every worker).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable

import psycopg
from sqlalchemy.engine import make_url

from vidpipe.db.database import database_unavailable
from vidpipe.errors import TransientError
from vidpipe.jobs import metrics
from vidpipe.jobs import queue as jobs
from vidpipe.jobs.retry import decide
from vidpipe.jobs.runner import JobRun, StageRunner
from vidpipe.jobs.sweep import sweep
from vidpipe.runtime import Runtime
from vidpipe.states import JobStatus

log = logging.getLogger(__name__)

IDLE_POLL_SECONDS = 2.0  # fallback when no NOTIFY arrives (e.g. a retry whose backoff just ended)
SWEEP_SECONDS = 0.5
RECONNECT_SECONDS = 0.5  # the presence connection comes back fast after a database restart


def make_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def psycopg_conninfo(sqlalchemy_url: str) -> str:
    url = make_url(sqlalchemy_url)
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


class Worker:
    def __init__(self, runtime: Runtime, *, concurrency: int | None = None, worker_id: str | None = None,
                 on_finished: Callable[[JobRun, str], None] | None = None) -> None:
        self.rt = runtime
        self.concurrency = concurrency or runtime.settings.worker_concurrency
        self.worker_id = worker_id or make_worker_id()
        self.runner = StageRunner(runtime, self.worker_id)
        self.on_finished = on_finished
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._present = threading.Event()  # the presence lock is held: only then may this worker claim
        self._active: dict[int, JobRun] = {}
        self._active_lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        st = runtime.settings
        self._pulse = min(1.0, st.queue.heartbeat_seconds)

    # --- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        sweep = getattr(self.rt.media_store, "sweep_incoming", None)
        if sweep:
            sweep()
        targets = [("listen", self._listen_loop), ("heartbeat", self._heartbeat_loop), ("sweep", self._sweep_loop)]
        targets += [(f"job-{i}", self._job_loop) for i in range(self.concurrency)]
        for name, target in targets:
            t = threading.Thread(target=target, name=f"vidpipe-{name}", daemon=True)
            t.start()
            self._threads.append(t)
        self._threads += metrics.start_reporters(self.rt, self._stop)
        log.info("worker.started", extra={"worker": self.worker_id, "concurrency": self.concurrency})

    def request_stop(self) -> None:
        """Stop claiming; running jobs are asked to stop and give their lease back."""
        self._stop.set()
        self._wake.set()
        with self._active_lock:
            for run in self._active.values():
                run.shutdown = True

    def join(self, timeout: float | None = None) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        for t in self._threads:
            t.join(None if deadline is None else max(0.0, deadline - time.monotonic()))

    def run_forever(self) -> None:
        self.start()
        try:
            while not self._stop.is_set():
                self._stop.wait(1.0)
        finally:
            self.request_stop()
            self.join(timeout=60)

    @property
    def active_jobs(self) -> list[JobRun]:
        with self._active_lock:
            return list(self._active.values())

    # --- threads ------------------------------------------------------------------------------
    def _job_loop(self) -> None:
        st = self.rt.settings
        while not self._stop.is_set():
            if not self._present.wait(IDLE_POLL_SECONDS):
                continue  # unseen by peers, a job of ours would look orphaned: claim nothing
            try:
                with self.rt.db.session() as s, s.begin():
                    job = jobs.claim(s, self.worker_id, st.queue.lease_seconds)
            except Exception as exc:
                _log_db_failure("worker.claim_failed", exc)
                self._stop.wait(RECONNECT_SECONDS)
                continue
            if job is None:
                self._wake.wait(IDLE_POLL_SECONDS)
                self._wake.clear()
                continue
            run = JobRun(job)
            with self._active_lock:
                self._active[job.id] = run
                run.shutdown = self._stop.is_set()
            try:
                outcome = self.runner.run(run)
            except Exception as exc:  # the runner records failures itself; this is a bug guard
                log.exception("worker.runner_crashed", extra={"job": job.id})
                outcome = "crashed"
                self._give_back(job, exc)
            finally:
                with self._active_lock:
                    self._active.pop(job.id, None)
            metrics.observe_job(self.rt, run, outcome)
            if self.on_finished:
                self.on_finished(run, outcome)

    def _give_back(self, job: jobs.ClaimedJob, exc: Exception) -> None:
        """After a runner bug: retry the job later rather than leave it running under a live presence lock,
        spending the attempt (a bug that recurs must end in `dead`, not loop)."""
        st = self.rt.settings
        error = TransientError(f"internal error: {type(exc).__name__}", code="internal_error")
        decision = decide(error, job.attempt, job.max_attempts, base=st.queue.backoff_base_seconds,
                          cap=st.queue.backoff_max_seconds)
        try:
            with self.rt.db.session() as s, s.begin():
                jobs.finish(s, job, self.worker_id, decision.final_status or JobStatus.QUEUED, error_code=error.code,
                            error=error.message, retry_in=decision.retry_in)
        except Exception as failure:  # e.g. the database is still down: the lease runs out, a peer retries
            _log_db_failure("worker.give_back_failed", failure)

    def _alive(self) -> bool:
        return not (self._stop.is_set() and not self.active_jobs)

    def _heartbeat_loop(self) -> None:
        st = self.rt.settings
        while self._alive():
            for run in self.active_jobs:
                try:
                    with self.rt.db.session() as s, s.begin():
                        ours, cancel = jobs.heartbeat(s, run.job, self.worker_id, st.queue.lease_seconds,
                                                      run.progress)
                    run.lease_lost = run.lease_lost or not ours
                    run.cancel_requested = run.cancel_requested or cancel
                except Exception as exc:  # a database outage: the job goes on, its lease is extended later
                    _log_db_failure("worker.heartbeat_failed", exc, job=run.job.id)
            time.sleep(self._pulse)

    def _sweep_loop(self) -> None:
        """Watch the peers (a thread of its own: a worker busy heartbeating many jobs still sweeps on time)."""
        while not self._stop.wait(SWEEP_SECONDS):
            if not self._present.is_set():
                continue
            try:
                found = sweep(self.rt, actor=f"worker:{self.worker_id}")
                if found.reclaimable:
                    self._wake.set()
            except Exception as exc:
                _log_db_failure("worker.sweep_failed", exc)

    def _listen_loop(self) -> None:
        """LISTEN for new work on the connection that holds this worker's presence lock."""
        while self._alive():  # present until the last job is released, or a peer would reclaim it meanwhile
            try:  # the URL is read per connection: it carries the current password after a rotation
                with psycopg.connect(psycopg_conninfo(self.rt.db.url), autocommit=True, connect_timeout=5) as conn:
                    jobs.hold_presence(conn, self.worker_id)
                    conn.execute(f"LISTEN {jobs.NOTIFY_CHANNEL}")
                    self._present.set()
                    self._wake.set()  # work may have queued up while we were away
                    while self._alive():
                        for _ in conn.notifies(timeout=1.0, stop_after=1):
                            self._wake.set()
            except Exception as exc:
                self._present.clear()
                _log_db_failure("worker.listen_reconnect", exc)
                self._stop.wait(RECONNECT_SECONDS)
        self._present.clear()


def _log_db_failure(event: str, exc: Exception, **extra: object) -> None:
    """A database outage is expected weather: one line, no stack. Anything else keeps its traceback."""
    if database_unavailable(exc) is not None:
        log.warning(event, extra={"error": "database unavailable", **extra})
    else:
        log.error(event, exc_info=exc, extra=dict(extra))
