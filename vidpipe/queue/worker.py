"""A worker process: N job threads, one heartbeat thread, one LISTEN thread. SIGTERM releases work cleanly."""

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

from vidpipe import metrics
from vidpipe.queue import jobs
from vidpipe.runtime import Runtime
from vidpipe.stages.runner import JobRun, StageRunner

log = logging.getLogger(__name__)

IDLE_POLL_SECONDS = 2.0  # fallback when no NOTIFY arrives (e.g. a retry whose backoff just ended)


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
        self._active: dict[int, JobRun] = {}
        self._active_lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        st = runtime.settings
        self._pulse = min(1.0, st.job_heartbeat_seconds)

    # --- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        sweep = getattr(self.rt.blobs, "sweep_incoming", None)
        if sweep:
            sweep()
        targets = [("listen", self._listen_loop), ("heartbeat", self._heartbeat_loop)]
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
            try:
                with self.rt.db.session() as s, s.begin():
                    job = jobs.claim(s, self.worker_id, st.job_lease_seconds)
            except Exception:
                log.exception("worker.claim_failed")
                self._stop.wait(IDLE_POLL_SECONDS)
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
            except Exception:  # the runner records failures itself; this is a bug guard
                log.exception("worker.runner_crashed", extra={"job": job.id})
                outcome = "crashed"
            finally:
                with self._active_lock:
                    self._active.pop(job.id, None)
            metrics.observe_job(self.rt, run, outcome)
            if self.on_finished:
                self.on_finished(run, outcome)

    def _heartbeat_loop(self) -> None:
        st = self.rt.settings
        last_lease: dict[int, float] = {}
        while not (self._stop.is_set() and not self.active_jobs):
            for run in self.active_jobs:
                try:
                    with self.rt.db.session() as s, s.begin():
                        ours, cancel = jobs.heartbeat(s, run.job, self.worker_id, st.job_lease_seconds,
                                                      run.progress)
                    last_lease[run.job.id] = time.monotonic()
                    run.lease_lost = run.lease_lost or not ours
                    run.cancel_requested = run.cancel_requested or cancel
                except Exception:
                    log.exception("worker.heartbeat_failed", extra={"job": run.job.id})
            time.sleep(self._pulse)

    def _listen_loop(self) -> None:
        while not self._stop.is_set():
            try:  # the URL is read per connection: it carries the current password after a rotation
                with psycopg.connect(psycopg_conninfo(self.rt.db.url), autocommit=True) as conn:
                    conn.execute(f"LISTEN {jobs.NOTIFY_CHANNEL}")
                    while not self._stop.is_set():
                        for _ in conn.notifies(timeout=1.0, stop_after=1):
                            self._wake.set()
            except Exception:
                log.warning("worker.listen_reconnect", exc_info=True)
                self._stop.wait(IDLE_POLL_SECONDS)
