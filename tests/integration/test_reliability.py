"""Reliability of the queue and its shell: crash loops go dead, dead workers are found in seconds, outages of our
own infrastructure never spend the attempts meant for bad input, API and worker never deadlock, and outages
answer 503 with a reason instead of a 500."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx
import psycopg
import pytest
from sqlalchemy import select, text

from tests.media_cache import MediaCache, default_cache_dir
from vidpipe.cache import Caching
from vidpipe.db import assets
from vidpipe.db.database import Database
from vidpipe.db.models import Asset, Event, Job
from vidpipe.errors import (
    DatabaseUnavailableError,
    MediaDecodeError,
    StorageError,
    StorageFullError,
    TransientError,
    public_message,
)
from vidpipe.jobs import queue as jobs
from vidpipe.jobs.reprocess import reprocess_asset
from vidpipe.jobs.retry import decide
from vidpipe.jobs.runner import StageRunner
from vidpipe.jobs.sweep import sweep
from vidpipe.jobs.worker import psycopg_conninfo
from vidpipe.mediastore import media_store_from_settings
from vidpipe.runtime import Runtime
from vidpipe.server import create_app


class Letters:
    """A dead-letter sink that keeps what it is sent (stands in for the SQS queue)."""

    def __init__(self) -> None:
        self.sent: list = []

    def send(self, letter) -> None:
        self.sent.append(letter)


def _asset_with_job(rt, stage="probe", max_attempts=3) -> tuple[uuid.UUID, int]:
    with rt.db.session() as s, s.begin():
        a = Asset(id=uuid.uuid4(), source_kind="upload", sha256=uuid.uuid4().hex * 2, size_bytes=1,
                  original_key="x/original", status="processing")
        s.add(a)
        s.flush()
        jid = jobs.enqueue(s, a.id, stage, actor="test", max_attempts=max_attempts)
    return a.id, jid


def _claim(rt, worker: str, lease: float = 30) -> jobs.ClaimedJob | None:
    with rt.db.session() as s, s.begin():
        return jobs.claim(s, worker, lease)


def _job(rt, jid: int) -> Job:
    with rt.db.session() as s:
        return s.get(Job, jid)


def _asset(rt, aid: uuid.UUID) -> Asset:
    with rt.db.session() as s:
        return s.get(Asset, aid)


# --- 1. crash loops ------------------------------------------------------------------------------------------
def test_a_job_that_kills_its_worker_goes_dead_after_the_limit_and_is_dead_lettered(runtime):
    letters = Letters()
    runtime.dead_letter_sinks = [letters]
    aid, jid = _asset_with_job(runtime, max_attempts=2)
    for attempt in (1, 2):  # each claim's worker dies: its lease just runs out
        job = _claim(runtime, f"doomed-{attempt}", lease=0.01)
        assert job.attempt == attempt
        time.sleep(0.05)
    assert _claim(runtime, "next") is None, "a reclaim past the attempt limit must not be claimed again"

    found = sweep(runtime, actor="test")
    assert found.buried == [jid]
    job = _job(runtime, jid)
    assert (job.status, job.attempts, job.crashes) == ("dead", 2, 2)
    assert (job.last_error_code, job.last_error) == ("worker_died", "worker died 2 times")
    asset = _asset(runtime, aid)
    assert (asset.status, asset.error_code, asset.error_message) == ("failed", "worker_died",
                                                                     "probe gave up: worker died 2 times")
    assert [(letter.job_id, letter.reason, letter.error_code) for letter in letters.sent] == [
        (jid, "worker died 2 times", "worker_died")]
    assert sweep(runtime, actor="test").buried == []  # once
    with runtime.db.session() as s:
        assert s.scalar(select(Event.detail).where(Event.event == "job.dead"))["crashes"] == 2


# --- 5. dead workers found by their missing presence lock -----------------------------------------------------
def test_a_dead_workers_job_is_reclaimed_within_the_grace_not_the_lease(runtime):
    _, jid = _asset_with_job(runtime)
    conninfo = psycopg_conninfo(runtime.db.url)
    presence = psycopg.connect(conninfo, autocommit=True)
    jobs.hold_presence(presence, "alive-then-dead")
    job = _claim(runtime, "alive-then-dead", lease=600)
    with runtime.db.session() as s, s.begin():
        s.execute(text("UPDATE jobs SET heartbeat_at = now() - interval '10 seconds'"))

    def expire(restart_grace: float = 0) -> list[int]:
        with runtime.db.session() as s, s.begin():
            return jobs.expire_orphans(s, grace_seconds=3, restart_grace_seconds=restart_grace)

    assert expire() == []  # a stale heartbeat alone (a GIL-bound model load) is no death while the lock is held
    presence.close()  # the process died: its backend and its session lock go with it
    time.sleep(0.5)  # the backend exits asynchronously
    assert expire(restart_grace=10**6) == [], "right after a database restart, absence means nothing yet"
    deadline = time.monotonic() + 5
    while not (expired := expire()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert expired == [jid]
    again = _claim(runtime, "peer", lease=600)
    assert (again.id, again.attempt, again.reclaimed, again.crashes) == (jid, 2, True, 1)
    with runtime.db.session() as s, s.begin():
        assert not jobs.heartbeat(s, job, "alive-then-dead", 600)[0]  # the dead one is fenced off


# --- infrastructure outages back off without spending attempts ------------------------------------------------
def test_retry_decisions_tell_outages_from_bad_input():
    full = decide(StorageFullError("disk full"), 5, 5, base=1, cap=10, deferrals=30)
    assert full.final_status is None and not full.spend_attempt and full.retry_in.total_seconds() <= 10
    assert not decide(DatabaseUnavailableError("down"), 5, 5, base=1, cap=10).spend_attempt
    assert not decide(StorageError("s3 down"), 1, 5, base=1, cap=10).spend_attempt
    assert decide(TransientError("flaky"), 5, 5, base=1, cap=10).final_status == "dead"
    assert decide(MediaDecodeError("bad"), 1, 5, base=1, cap=10).final_status == "failed"


def test_an_outage_longer_than_every_attempt_never_kills_the_job(runtime):
    aid, jid = _asset_with_job(runtime, max_attempts=2)
    runner = StageRunner(runtime, "w")
    for n in range(1, 6):  # more outages than attempts: still queued, attempt budget untouched
        job = _claim(runtime, "w")
        assert job.attempt == 1 and job.deferrals == n - 1
        assert runner._fail(job, StorageFullError("the media store is full")) == "retrying"
        with runtime.db.session() as s, s.begin():
            s.execute(text("UPDATE jobs SET run_after = now()"))
    job = _job(runtime, jid)
    assert (job.status, job.attempts, job.deferrals, job.last_error_code) == ("queued", 0, 5, "storage_full")
    assert _asset(runtime, aid).status == "processing"
    # The same job failing on bad input still fails at once.
    job = _claim(runtime, "w")
    assert runner._fail(job, MediaDecodeError("garbage")) == "failed"


def test_failure_messages_shown_to_users_carry_no_server_paths(runtime, tmp_path):
    aid, jid = _asset_with_job(runtime, max_attempts=1)
    job = _claim(runtime, "w")
    leaked = f"[Errno 5] Input/output error: '{tmp_path}/scratch/job-{jid}-a1/out/hls/360p/seg_000.ts'"
    assert StageRunner(runtime, "w")._fail(job, OSError(leaked)) == "dead"
    for message in (_job(runtime, jid).last_error, _asset(runtime, aid).error_message):
        assert str(tmp_path) not in message and "scratch" not in message and "seg_000.ts" in message
    assert public_message("see http://example.test/a/b and key x/hls/master.m3u8") == (
        "see http://example.test/a/b and key x/hls/master.m3u8")


# --- 6. lock order: reprocess or delete racing a failing job -------------------------------------------------
def _lock_waiters(rt) -> int:
    with rt.db.session() as s:
        return s.scalar(text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                             "AND datname = current_database()"))


@pytest.mark.parametrize("api_action", ["reprocess", "delete"])
def test_api_write_racing_a_failing_job_does_not_deadlock(runtime, api_action):
    aid, jid = _asset_with_job(runtime, max_attempts=1)
    job = _claim(runtime, "w")
    api = runtime.db.session()
    api.begin()
    assets.get_asset(api, aid, lock=True)  # the API request holds the asset...
    outcome: list[object] = []

    def fail_job() -> None:
        try:
            outcome.append(StageRunner(runtime, "w")._fail(job, MediaDecodeError("not a video")))
        except Exception as exc:
            outcome.append(exc)

    worker = threading.Thread(target=fail_job)
    worker.start()
    deadline = time.monotonic() + 5
    while _lock_waiters(runtime) == 0 and time.monotonic() < deadline:  # ...while the worker waits for it
        time.sleep(0.02)
    try:
        if api_action == "reprocess":
            reprocess_asset(api, aid, "probe", actor="api")
        else:
            api.execute(text("DELETE FROM assets WHERE id = :id"), {"id": aid})
        api.commit()
    finally:
        api.close()
    worker.join(10)
    assert outcome == (["failed"] if api_action == "reprocess" else ["lost"])
    if api_action == "reprocess":
        assert _job(runtime, jid).status == "failed"


# --- 3. the API: an unavailable database is a 503 with a reason and Retry-After ------------------------------
def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_api_answers_503_with_retry_after_when_the_database_is_down(settings):
    down = Database(f"postgresql+psycopg://postgres@127.0.0.1:{_free_port()}/vidpipe", pool_size=2)
    rt = Runtime(settings, down, media_store_from_settings(settings), cache=Caching.from_settings(settings))
    rt.cache.keys.remember("k-secret", "tester", "admin")  # a key verified before the outage
    app = create_app(rt)

    async def calls() -> list[httpx.Response]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api.test") as c:
            h = {"Authorization": "Bearer k-secret"}
            return [await c.get("/v1/assets", headers=h), await c.get("/v1/jobs", headers=h),
                    await c.get(f"/v1/assets/{uuid.uuid4()}", headers=h), await c.get("/readyz")]

    import asyncio

    try:
        responses = asyncio.run(calls())
    finally:
        rt.close()
    for r in responses[:3]:
        assert r.status_code == 503, (r.request.url, r.text)
        assert r.json()["error"]["code"] == "database_unavailable"
        assert int(r.headers["Retry-After"]) > 0
    assert responses[3].status_code == 503 and "database unreachable" in responses[3].json()["problems"][0]


def test_readyz_reports_low_disk_space(runtime):
    runtime.settings.ready_min_free_bytes = 2**62  # more than any disk has
    app = create_app(runtime)

    async def ready() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api.test") as c:
            return await c.get("/readyz")

    import asyncio

    r = asyncio.run(ready())
    assert r.status_code == 503
    assert any("media store low on space" in p for p in r.json()["problems"])
    assert str(runtime.settings.media_root) not in r.text


def test_cli_ingest_with_the_database_down_prints_one_line(tmp_path):
    clip = tmp_path / "a.mp4"
    clip.write_bytes(b"\0" * 64)
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIDPIPE_")}
    env |= {"VIDPIPE_DATABASE_URL": f"postgresql://postgres@127.0.0.1:{_free_port()}/x",
            "VIDPIPE_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "200", "NO_COLOR": "1"}
    vidpipe = str(Path(sys.executable).with_name("vidpipe"))
    done = subprocess.run([vidpipe, "ingest", str(clip)], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and "database is unavailable" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


# --- 7. analyze hands its job back at once when told to stop ------------------------------------------------
_ANALYZE_STOP = """
import sys, threading, time, uuid
from pathlib import Path
from vidpipe.errors import JobCancelledError
from vidpipe.profiles import get_profile
from vidpipe.settings import Limits, Settings
from vidpipe.stages import analyze
from vidpipe.contract import StageInput

stop = threading.Event()
def ask():
    stop.set()
    print("asked", time.monotonic(), flush=True)
threading.Timer(0.3, ask).start()  # while the models are still loading (a fresh process)
work = Path(sys.argv[2])
(work / "out").mkdir(parents=True, exist_ok=True)
inp = StageInput(asset_id=uuid.uuid4(), source_path=Path(sys.argv[1]), work_dir=work / "out",
                 profile=get_profile("standard"), limits=Limits(), should_stop=stop.is_set,
                 settings=Settings(data_dir=work / "data"))
try:
    analyze.run(inp)
    print("finished", time.monotonic())
except JobCancelledError:
    print("stopped", time.monotonic())
"""


def test_analyze_stops_within_a_second_even_while_loading_models(tmp_path):
    clip = MediaCache(default_cache_dir()).get("small_360p")
    env = os.environ | {"HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", _ANALYZE_STOP, str(clip), str(tmp_path / "w")],
                          capture_output=True, text=True, timeout=120, env=env)
    times = {parts[0]: float(parts[1]) for parts in map(str.split, done.stdout.splitlines()) if len(parts) == 2}
    assert "stopped" in times, done.stdout + done.stderr
    assert times["stopped"] - times["asked"] < 1.0


# --- 2. ffmpeg stopped on its own is an interruption, not bad input -----------------------------------------
def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(p) for p in (task / "children").read_text().split()]
    return found


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_ffmpeg_alone_getting_a_signal_is_retried_not_failed(tmp_path, sig):
    from vidpipe.ffmpeg.process import run_with_progress

    sent: list[int] = []

    def progress(fraction: float) -> None:
        if not sent:
            for child in _children(os.getpid()):
                os.kill(child, sig)
                sent.append(child)

    args = ["-re", "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25", "-t", "60", "-c:v", "libx264", "-preset",
            "ultrafast", "-progress", "pipe:1", "-y", str(tmp_path / "out.ts")]
    with pytest.raises(TransientError) as info:
        run_with_progress(args, duration=60, progress=progress, should_stop=lambda: False)
    assert sent and info.value.retryable and not isinstance(info.value, MediaDecodeError)
    assert info.value.spends_attempt  # a signal could be the OOM killer on a hostile file: bounded retries


def test_a_runner_bug_spends_attempts_and_ends_dead_not_in_a_loop(runtime):
    from vidpipe.jobs.worker import Worker

    _, jid = _asset_with_job(runtime, max_attempts=2)
    worker = Worker(runtime, concurrency=1)

    def buggy(run):  # a bug in the shell itself, after the claim (the runner normally records every failure)
        raise RuntimeError("bug")

    worker.runner.run = buggy
    worker.start()
    try:
        deadline = time.monotonic() + 20
        while _job(runtime, jid).status != "dead":
            assert time.monotonic() < deadline, _job(runtime, jid).status
            time.sleep(0.05)
    finally:
        worker.request_stop()
        worker.join(timeout=10)
    job = _job(runtime, jid)
    assert (job.attempts, job.last_error_code) == (2, "internal_error")
