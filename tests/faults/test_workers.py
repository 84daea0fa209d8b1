"""Workers dying: SIGKILLed in a loop (resumed by a peer within seconds), a job that kills every worker that
runs it (dead after the limit, dead-lettered), and ffmpeg alone getting SIGTERM or SIGINT (retried, not failed)."""

from __future__ import annotations

import json
import os
import signal
import time
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import pytest

from tests.acceptance.conftest import all_terminal, events_of, ingest_file, jobs_of, live_ffmpeg, wait_for
from tests.aws_emulator import aws_emulator_fixture  # noqa: F401 - fixture
from tests.faults.conftest import ApiServer, assert_intact, spawn_worker, start_api, tiny_clips, worker_env

RESUME_LIMIT_SECONDS = 5.0


def _pid_of(worker_id: str | None) -> int | None:
    parts = (worker_id or "").split(":")
    return int(parts[1]) if len(parts) == 3 and parts[1].isdigit() else None


def _victim(rt, children, *, job_filter) -> tuple[object, object] | None:
    """A running job (matching job_filter) and the child process running it."""
    by_pid = {c.pid: c for c in children if c.popen.poll() is None}
    for job in jobs_of(rt):
        child = by_pid.get(_pid_of(job.worker_id))
        if job.status == "running" and child is not None and job_filter(job):
            return job, child
    return None


def _present_workers(rt) -> int:
    """Workers holding their presence lock on this database (vidpipe.jobs.queue.hold_presence)."""
    from sqlalchemy import text

    from vidpipe.jobs.queue import PRESENCE_LOCK_SPACE

    with rt.db.session() as s:
        return s.scalar(text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                             "AND classid = :space AND database = (SELECT oid FROM pg_database "
                             "WHERE datname = current_database())"), {"space": PRESENCE_LOCK_SPACE})


def victim_asset_reason(api: ApiServer, asset_id) -> str:
    return api.get(f"/v1/assets/{asset_id}").json()["error"]["message"]


class ApiWatch:
    """Reads the API every half second while workers die: it must never answer 500."""

    def __init__(self, api: ApiServer, paths: list[str]) -> None:
        self.api, self.paths, self.codes, self.next = api, paths, [], 0.0

    def poll(self) -> None:
        if time.monotonic() >= self.next:
            self.next = time.monotonic() + 0.5
            self.codes += [self.api.get(path).status_code for path in self.paths]

    def assert_no_500(self) -> None:
        assert self.codes and 500 not in self.codes and set(self.codes) <= {200}, self.codes


def _reclaimed(rt, job_id: int, attempt: int) -> bool:
    return any(j.id == job_id and j.attempts > attempt for j in jobs_of(rt))


def test_sigkilled_workers_are_resumed_by_a_peer_within_seconds(fault_settings, fault_runtime, procs, tmp_path):
    rt = fault_runtime
    clips = tiny_clips(tmp_path / "clips", 9, width=640, height=360, seconds=6)
    ids = [ingest_file(rt, clip, profile="standard") for clip in clips[:6]]
    reserve = clips[6:]  # more work should the six assets finish before three kills (a quiet machine is fast)
    env = worker_env(fault_settings)
    watch = ApiWatch(start_api(procs, fault_settings), ["/v1/assets", "/v1/jobs", f"/v1/assets/{ids[0]}"])
    # Enough slots that one worker alone can run every job at once: a peer always has room to resume a job
    # (the figure is how fast a death is noticed and acted on, not how long a job queues for a slot).
    workers = [spawn_worker(procs, env, f"worker-{i}", 12) for i in range(3)]
    kills: list[tuple[int, int, float]] = []  # (job id, attempt killed, wall time of the kill)
    deadline = time.monotonic() + 90
    while not all_terminal(rt, ids) or (len(kills) < 3 and reserve):
        assert time.monotonic() < deadline, "\n".join(w.output()[-2000:] for w in workers)
        if all_terminal(rt, ids):
            ids.append(ingest_file(rt, reserve.pop(), profile="standard"))
        # One death at a time, with a live peer present to notice it (the figure is a peer's reaction).
        found = len(kills) < 5 and _present_workers(rt) >= 2 and _victim(rt, workers,
                                                                          job_filter=lambda j: j.crashes == 0)
        if found:
            job, child = found
            child.popen.send_signal(signal.SIGKILL)
            kills.append((job.id, job.attempts, time.time()))
            child.wait(timeout=10)
            workers = [w for w in workers if w is not child]
            workers.append(spawn_worker(procs, env, f"worker-{len(kills) + 2}", 12))
            wait_for(partial(_reclaimed, rt, job.id, job.attempts), timeout=30, interval=0.05,
                     what=f"job {job.id} to be reclaimed", procs=workers)
        watch.poll()
        time.sleep(0.05)
    assert len(kills) >= 3, "the loop should have killed at least three workers mid-job"

    assert_intact(rt, ids)
    watch.assert_no_500()
    detected, resumed = [], []
    for job_id, attempt, killed_at in kills:
        claims = [e for e in events_of(rt, event="job.claimed") if e.job_id == job_id
                  and e.detail["attempt"] == attempt + 1]
        assert claims and claims[0].detail["reclaimed"], f"job {job_id} was not reclaimed"
        # Found by its missing presence lock, not by its lease running out (a worker running two jobs loses both).
        lost = [e for e in events_of(rt, event="job.worker_lost") if e.job_id == job_id
                and e.at.timestamp() >= killed_at - 0.5]
        assert lost, f"job {job_id} was not found by the sweep"
        detected.append(lost[0].at.timestamp() - killed_at)
        resumed.append(claims[0].at.timestamp() - killed_at)
    print(f"\nkill -> found dead: {', '.join(f'{s:.2f}' for s in detected)} s; -> resumed by a peer: "
          f"{', '.join(f'{s:.2f}' for s in resumed)} s (max {max(resumed):.2f} s, lease 30 s)")
    assert max(resumed) <= RESUME_LIMIT_SECONDS, resumed


def test_a_job_that_keeps_killing_its_worker_goes_dead_and_is_dead_lettered(fault_settings, fault_runtime, procs,
                                                                            tmp_path, aws_emulator):
    rt = fault_runtime
    sqs = aws_emulator.client("sqs")
    queue_url = sqs.create_queue(QueueName=aws_emulator.unique("dlq"))["QueueUrl"]
    rt.settings.queue.max_attempts = 3
    victim, bystander = [ingest_file(rt, clip) for clip in tiny_clips(tmp_path / "clips", 2)]
    env = worker_env(fault_settings, job_max_attempts=3, dlq_url=queue_url, aws_endpoint_url=aws_emulator.endpoint_url,
                     aws_region=aws_emulator.region)
    watch = ApiWatch(start_api(procs, fault_settings), ["/v1/jobs?status=dead", f"/v1/assets/{victim}"])
    # One slot each: killing the worker of the doomed job takes down no other job with it.
    workers = [spawn_worker(procs, env, f"worker-{i}", 1) for i in range(2)]

    def doomed(job) -> bool:  # the "file that crashes the decoder": its transcode kills whoever runs it
        return job.asset_id == victim and job.stage == "transcode"

    kills = 0
    deadline = time.monotonic() + 90
    while not all_terminal(rt, [victim, bystander]):
        assert time.monotonic() < deadline, "\n".join(w.output()[-2000:] for w in workers)
        found = _victim(rt, workers, job_filter=doomed)
        if found:
            _, child = found
            child.popen.send_signal(signal.SIGKILL)
            child.wait(timeout=10)
            kills += 1
            workers = [w for w in workers if w is not child]
            workers.append(spawn_worker(procs, env, f"worker-{kills + 2}", 1))
        watch.poll()
        time.sleep(0.02)

    (job,) = [j for j in jobs_of(rt, victim) if j.stage == "transcode"]
    assert (job.status, job.attempts, job.crashes, kills) == ("dead", 3, 3, 3)
    assert (job.last_error_code, job.last_error) == ("worker_died", "worker died 3 times")
    assert_intact(rt, [victim, bystander], failed={victim: "transcode"})
    watch.assert_no_500()
    assert victim_asset_reason(watch.api, victim) == "transcode gave up: worker died 3 times"
    dead = events_of(rt, asset_id=victim, event="job.dead")
    assert len(dead) == 1 and dead[0].detail["error"] == "worker died 3 times"

    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=2,
                                   VisibilityTimeout=0).get("Messages", [])
    bodies = [json.loads(m["Body"]) for m in messages]
    assert [(b["job_id"], b["reason"], b["error_code"]) for b in bodies] == [
        (job.id, "worker died 3 times", "worker_died")]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "sigint"])
def test_ffmpeg_alone_interrupted_is_retried_and_the_asset_still_succeeds(fault_settings, fault_runtime, procs,
                                                                         tmp_path, sig):
    rt = fault_runtime
    # The standard ladder over 6 s of 640x360 keeps ffmpeg busy long enough to be interrupted.
    (clip,) = tiny_clips(tmp_path / "clips", 1, width=640, height=360, seconds=6)
    asset_id = ingest_file(rt, clip, profile="standard")
    worker = spawn_worker(procs, worker_env(fault_settings), "worker", 1)

    def transcode_running():
        job = next((j for j in jobs_of(rt, asset_id) if j.stage == "transcode"), None)
        return job if job is not None and job.status == "running" else None

    job = wait_for(transcode_running, timeout=60, interval=0.05, what="the transcode to run", procs=[worker])
    # The ladder's ffmpeg (it writes under hls/), not one of the short per-title trial encodes before it.
    marker = str(fault_settings.scratch_root / f"job-{job.id}-a1" / "out" / "hls")
    pids = wait_for(lambda: live_ffmpeg(marker), timeout=60, interval=0.02, what="ffmpeg to start", procs=[worker])
    # Past opening its inputs (its first segment file is open): this test is about an interrupted encode. A
    # signal while ffmpeg still opens them ends it with "Error opening input files" and no "received signal";
    # that case is classified in tests/unit/test_failure_classes.py.
    wait_for(lambda: next(Path(marker).rglob("*.ts"), None), timeout=60, interval=0.01,
             what="ffmpeg to write", procs=[worker])
    signalled_at = datetime.now(UTC)
    for pid in pids:
        os.kill(pid, sig)  # ffmpeg only: the worker is untouched
    wait_for(lambda: all_terminal(rt, [asset_id]), timeout=90, interval=0.2, what="the asset to finish",
             procs=[worker])

    assert_intact(rt, [asset_id])
    (job,) = [j for j in jobs_of(rt, asset_id) if j.stage == "transcode"]
    assert (job.status, job.attempts) == ("succeeded", 2)
    retried = [e for e in events_of(rt, asset_id=asset_id, event="job.retry_scheduled") if e.at >= signalled_at]
    assert [e.detail["error_code"] for e in retried] == ["transient"]
    assert not events_of(rt, asset_id=asset_id, event="job.failed")
