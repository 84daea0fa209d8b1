"""Several worker processes on one PostgreSQL database: 20 assets, every job runs to completion exactly once,
as the append-only event log shows."""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path

import pytest

from tests.acceptance.conftest import all_terminal, asset_statuses, child_env, events_of, ingest_file, jobs_of, wait_for
from vidpipe.ffmpeg import samples
from vidpipe.ffmpeg.process import run_ffmpeg
from vidpipe.stages import registry

pytestmark = pytest.mark.slow

ASSETS = 20
WORKERS = 2
ENDS = {"job.succeeded", "job.failed", "job.dead", "job.cancelled", "job.released", "job.retry_scheduled"}


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> list[Path]:
    """20 distinct files: one encode, then stream copies that differ only in their title tag."""
    d = tmp_path_factory.mktemp("many")
    base = samples.make_video(d / "base.mp4", width=320, height=180, seconds=1, scene_seconds=1)
    out = []
    for i in range(ASSETS):
        path = d / f"clip-{i:02d}.mp4"
        run_ffmpeg(["-i", str(base), "-map", "0", "-c", "copy", "-metadata", f"title=clip {i}", str(path)])
        out.append(path)
    assert len({p.read_bytes() for p in out}) == ASSETS
    return out


def test_two_workers_process_twenty_assets_exactly_once(settings, runtime, procs, clips) -> None:
    ids = [ingest_file(runtime, clip) for clip in clips]
    assert len(set(ids)) == ASSETS
    env = child_env(settings)
    workers = [procs.spawn(["worker", "-c", "2"], env, name=f"worker-{i}") for i in range(WORKERS)]

    wait_for(lambda: all_terminal(runtime, ids), timeout=180, interval=0.5, what="all assets to finish",
             procs=workers)
    statuses = asset_statuses(runtime, ids)
    assert Counter(statuses.values()) == Counter({"ready": ASSETS}), statuses

    # Every (asset, stage) succeeded exactly once, and nothing failed or was retried.
    events = events_of(runtime)
    succeeded = Counter((e.asset_id, e.detail["stage"]) for e in events if e.event == "job.succeeded")
    assert succeeded == Counter({(a, stage): 1 for a in ids for stage in registry.STAGES})
    jobs = jobs_of(runtime)
    assert len(jobs) == ASSETS * len(registry.STAGES)
    retried = {j.id for j in jobs if j.attempts != 1}
    story = [(e.job_id, e.event, e.actor[-12:], {k: v for k, v in e.detail.items() if k != "stage"})
             for e in events if e.job_id in retried]
    assert {(j.status, j.attempts) for j in jobs} == {("succeeded", 1)}, story

    # No job was held by two workers at once: per job, claims and attempt ends alternate, each end is
    # written by the worker holding the claim, and no claim took over a live lease.
    by_job: dict[int, list] = defaultdict(list)
    for e in events:
        if e.job_id is not None and (e.event == "job.claimed" or e.event in ENDS):
            by_job[e.job_id].append(e)
    assert set(by_job) == {j.id for j in jobs}
    for job_id, seq in by_job.items():
        kinds = ["claim" if e.event == "job.claimed" else "end" for e in seq]
        assert kinds == ["claim", "end"] * (len(seq) // 2), f"job {job_id}: {[e.event for e in seq]}"
        for claim, end in zip(seq[::2], seq[1::2], strict=True):
            assert claim.detail["reclaimed"] is False
            assert claim.actor == end.actor, f"job {job_id} claimed by {claim.actor}, ended by {end.actor}"

    # The work really was shared.
    per_worker = Counter(e.actor for e in events if e.event == "job.succeeded")
    assert len(per_worker) == WORKERS, per_worker
    assert all(actor.startswith("worker:") for actor in per_worker)

    for w in workers:
        assert w.popen.poll() is None, w.output()  # still serving
