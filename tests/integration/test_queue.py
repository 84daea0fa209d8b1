"""The PostgreSQL work queue: claims, leases, fencing, retries, dead letters, cancellation, notifications."""

from __future__ import annotations

import random
import threading
import time
import uuid
from datetime import timedelta

import psycopg
import pytest
from sqlalchemy import select, text

from vidpipe.db.models import Asset, Event, Job
from vidpipe.errors import ConflictError, MediaDecodeError, TransientError
from vidpipe.jobs import queue as jobs
from vidpipe.jobs.retry import backoff, decide
from vidpipe.jobs.worker import psycopg_conninfo


def _asset(s) -> uuid.UUID:
    a = Asset(id=uuid.uuid4(), source_kind="upload", sha256=uuid.uuid4().hex * 2, size_bytes=1,
              original_key="x/original", status="queued")
    s.add(a)
    s.flush()
    return a.id


def _enqueue(rt, stage="probe", priority=0, max_attempts=3):
    with rt.db.session() as s, s.begin():
        aid = _asset(s)
        jid = jobs.enqueue(s, aid, stage, actor="test", priority=priority, max_attempts=max_attempts)
    return aid, jid


def test_enqueue_is_idempotent_per_asset_and_stage(runtime):
    aid, jid = _enqueue(runtime)
    with runtime.db.session() as s, s.begin():
        assert jobs.enqueue(s, aid, "probe", actor="test") is None
        assert s.scalar(select(Job.id).where(Job.asset_id == aid)) == jid
        assert s.scalar(text("SELECT count(*) FROM jobs")) == 1


def test_parts_are_unique_per_run_and_other_jobs_per_stage(runtime):
    """One live job per (asset, stage, part, run): a reprocess's part n queues while the superseded run's part n
    is still queued or running; the same part of the same run, or a stage without a run, is not queued twice."""
    with runtime.db.session() as s, s.begin():
        aid = _asset(s)
        old = jobs.enqueue(s, aid, "transcode_chunk", actor="test", payload={"run": 10, "part": 1}, part=1)
        old_audio = jobs.enqueue(s, aid, "transcode_audio", actor="test", payload={"run": 10})
        assert old is not None and old_audio is not None
        assert jobs.enqueue(s, aid, "transcode_chunk", actor="test", payload={"run": 10, "part": 1}, part=1) is None
        assert jobs.enqueue(s, aid, "transcode_audio", actor="test", payload={"run": 10}) is None
    with runtime.db.session() as s, s.begin():
        claimed = {jobs.claim(s, "w", 30).id, jobs.claim(s, "w", 30).id}
    assert claimed == {old, old_audio}  # running now: live as much as queued
    with runtime.db.session() as s, s.begin():
        new = jobs.enqueue(s, aid, "transcode_chunk", actor="test", payload={"run": 20, "part": 1}, part=1)
        new_audio = jobs.enqueue(s, aid, "transcode_audio", actor="test", payload={"run": 20})
        assert None not in (new, new_audio) and len({old, old_audio, new, new_audio}) == 4
        assert jobs.enqueue(s, aid, "transcode_chunk", actor="test", payload={"run": 20, "part": 1}, part=1) is None
        # no run: exactly today's one live job per stage (and part)
        assert jobs.enqueue(s, aid, "analyze", actor="test") is not None
        assert jobs.enqueue(s, aid, "analyze", actor="test") is None
        assert jobs.enqueue(s, aid, "analyze", actor="test", payload={"other": 1}) is None
        assert s.scalar(text("SELECT count(*) FROM jobs WHERE status IN ('queued', 'running')")) == 5
    # a new run's part that died is retried while the old run's part of the same number still runs
    with runtime.db.session() as s, s.begin():
        s.execute(text("UPDATE jobs SET status = 'dead' WHERE id = :id"), {"id": new})
        assert jobs.retry(s, new, actor="test").status == "queued"
        s.execute(text("UPDATE jobs SET status = 'dead' WHERE id = :id"), {"id": new})
        assert jobs.enqueue(s, aid, "transcode_chunk", actor="test", payload={"run": 20, "part": 1}, part=1)
        with pytest.raises(ConflictError):  # the same run's part is live again
            jobs.retry(s, new, actor="test")


def test_claim_skips_locked_rows_and_honours_priority(runtime):
    _, low = _enqueue(runtime, priority=0)
    _, high = _enqueue(runtime, priority=5)
    s1 = runtime.db.session()
    s1.begin()
    first = jobs.claim(s1, "w1", 30)
    assert first.id == high
    # While w1's transaction still holds the row, another worker gets the next job, not the same one.
    with runtime.db.session() as s2, s2.begin():
        second = jobs.claim(s2, "w2", 30)
    assert second.id == low
    s1.commit()
    s1.close()
    with runtime.db.session() as s3, s3.begin():
        assert jobs.claim(s3, "w3", 30) is None


def test_expired_lease_is_reclaimed_and_stale_worker_is_fenced(runtime):
    _, jid = _enqueue(runtime)
    with runtime.db.session() as s, s.begin():
        old = jobs.claim(s, "dead-worker", 0.01)
    time.sleep(0.05)
    with runtime.db.session() as s, s.begin():
        new = jobs.claim(s, "w2", 30)
    assert new.id == jid and new.reclaimed and new.attempt == 2
    with runtime.db.session() as s, s.begin():
        assert jobs.heartbeat(s, old, "dead-worker", 30) == (False, False)
        assert jobs.finish(s, old, "dead-worker", "succeeded") is False
        assert jobs.finish(s, new, "w2", "succeeded") is True
        assert s.get(Job, jid).status == "succeeded"


def test_retry_decision_is_a_value():
    rng = random.Random(1)
    assert decide(MediaDecodeError("bad"), 1, 5, base=1, cap=10).final_status == "failed"
    assert decide(TransientError("net"), 5, 5, base=1, cap=10).final_status == "dead"
    d = decide(TransientError("net"), 2, 5, base=1, cap=10, rng=rng)
    assert d.final_status is None and timedelta(seconds=1) <= d.retry_in <= timedelta(seconds=2)
    assert backoff(30, 1, 10, rng) <= timedelta(seconds=10)  # capped


def test_retry_backoff_then_dead_letter_then_manual_retry(runtime):
    _, jid = _enqueue(runtime, max_attempts=2)
    with runtime.db.session() as s, s.begin():
        j = jobs.claim(s, "w", 30)
        jobs.finish(s, j, "w", "queued", error="flaky", retry_in=timedelta(seconds=60))
    with runtime.db.session() as s, s.begin():
        assert jobs.claim(s, "w", 30) is None  # not before its backoff ends
        s.execute(text("UPDATE jobs SET run_after = now()"))
    with runtime.db.session() as s, s.begin():
        j = jobs.claim(s, "w", 30)
        assert j.attempt == 2
        jobs.finish(s, j, "w", "dead", error_code="transient", error="still flaky")
    with runtime.db.session() as s, s.begin():
        job = s.get(Job, jid)
        assert (job.status, job.last_error) == ("dead", "still flaky")
        jobs.retry(s, jid, actor="test")
    with runtime.db.session() as s, s.begin():
        j = jobs.claim(s, "w", 30)
        assert j.id == jid and j.attempt == 1
        with pytest.raises(ConflictError):
            jobs.retry(s, jid, actor="test")


def test_cancel_queued_and_running(runtime):
    _, queued = _enqueue(runtime)
    with runtime.db.session() as s, s.begin():
        jobs.cancel(s, queued, actor="test")
        assert s.get(Job, queued).status == "cancelled"
    _, running = _enqueue(runtime)
    with runtime.db.session() as s, s.begin():
        j = jobs.claim(s, "w", 30)
        jobs.cancel(s, running, actor="test")
    with runtime.db.session() as s, s.begin():
        assert jobs.heartbeat(s, j, "w", 30) == (True, True)


def test_release_does_not_count_an_attempt(runtime):
    _, jid = _enqueue(runtime)
    with runtime.db.session() as s, s.begin():
        j = jobs.claim(s, "w", 30)
        assert jobs.release(s, j, "w")
    with runtime.db.session() as s, s.begin():
        assert s.get(Job, jid).attempts == 0
        assert jobs.claim(s, "w2", 30).attempt == 1


def test_events_are_append_only(runtime):
    _enqueue(runtime)
    with runtime.db.session() as s, s.begin():
        assert s.scalar(select(Event.event)) == "job.queued"
    with pytest.raises(Exception, match="append-only"), runtime.db.session() as s, s.begin():
        s.execute(text("UPDATE events SET actor = 'someone-else'"))
    with pytest.raises(Exception, match="append-only"), runtime.db.session() as s, s.begin():
        s.execute(text("DELETE FROM events"))


def test_notify_is_delivered_on_commit(runtime):
    got = threading.Event()

    def listen():
        with psycopg.connect(psycopg_conninfo(runtime.db.url), autocommit=True) as conn:
            conn.execute(f"LISTEN {jobs.NOTIFY_CHANNEL}")
            ready.set()
            for _ in conn.notifies(timeout=5, stop_after=1):
                got.set()

    ready = threading.Event()
    t = threading.Thread(target=listen)
    t.start()
    ready.wait(5)
    start = time.monotonic()
    _enqueue(runtime)
    t.join(6)
    assert got.is_set() and time.monotonic() - start < 1.0
