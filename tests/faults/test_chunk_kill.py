"""A worker SIGKILLed in the middle of a chunk of a long video: that chunk alone is redone by a peer, every other
chunk ran once, and the joined output is whole (every segment there, continuous, the source's duration)."""

from __future__ import annotations

import signal
from collections import Counter

from tests.acceptance.conftest import all_terminal, events_of, ingest_file, jobs_of, live_ffmpeg, wait_for
from tests.faults.conftest import spawn_worker, worker_env
from vidpipe.ffmpeg import playlists, samples
from vidpipe.ffmpeg.probe import probe_file

CHUNKED = {"chunk_threshold_seconds": 10, "chunk_seconds": 6, "first_chunk_seconds": 2}


def _pid_of(worker_id: str | None) -> int | None:
    parts = (worker_id or "").split(":")
    return int(parts[1]) if len(parts) == 3 and parts[1].isdigit() else None


def test_a_killed_chunk_is_redone_alone_and_nothing_is_lost(fault_settings, fault_runtime, procs, tmp_path):
    rt = fault_runtime
    clip = samples.make_video(tmp_path / "clips" / "long.mp4", width=640, height=360, seconds=24, scene_seconds=3)
    asset_id = ingest_file(rt, clip, profile="preview")
    env = worker_env(fault_settings, **CHUNKED)
    workers = [spawn_worker(procs, env, f"worker-{i}", 1) for i in range(2)]  # one slot: a kill takes one job

    def running_chunk():
        by_pid = {w.pid: w for w in workers if w.popen.poll() is None}
        for job in jobs_of(rt, asset_id):
            child = by_pid.get(_pid_of(job.worker_id))
            if job.stage == "transcode_chunk" and job.part >= 1 and job.status == "running" and child is not None:
                work = fault_settings.scratch_root / f"job-{job.id}-a{job.attempts}"
                if live_ffmpeg(str(work)):  # mid-encode, not before or after it
                    return job, child
        return None

    victim, child = wait_for(running_chunk, timeout=90, interval=0.02, what="a chunk to be encoding", procs=workers)
    child.popen.send_signal(signal.SIGKILL)
    child.wait(timeout=10)
    workers = [w for w in workers if w is not child] + [spawn_worker(procs, env, "worker-2", 1)]
    wait_for(lambda: all_terminal(rt, [asset_id]), timeout=180, interval=0.2, what="the asset to finish",
             procs=workers)

    rows = jobs_of(rt, asset_id)
    assert not [j for j in rows if j.status != "succeeded"], [(j.stage, j.part, j.status) for j in rows]
    assert all(n == 1 for n in Counter((j.stage, j.part) for j in rows).values()), "a job was duplicated"
    chunks = {j.part: j for j in rows if j.stage == "transcode_chunk"}
    assert len(chunks) >= 4
    assert (chunks[victim.part].attempts, chunks[victim.part].crashes) == (2, 1)
    assert all(j.attempts == 1 for part, j in chunks.items() if part != victim.part), "another chunk was redone"
    claims = Counter(e.job_id for e in events_of(rt, asset_id=asset_id, event="job.claimed"))
    assert claims[victim.id] == 2 and all(n == 1 for jid, n in claims.items() if jid != victim.id)

    with rt.db.session() as s:
        from vidpipe.db.models import Asset

        asset = s.get(Asset, asset_id)
        assert asset.status == "ready", asset.error_message
        keys = [a.key for a in asset.artifacts]
    assert len(keys) == len(set(keys)) and all((rt.settings.media_root / k).is_file() for k in keys)
    hls_root = rt.settings.media_root / str(asset_id) / "hls"
    master = playlists.parse_master((hls_root / "master.m3u8").read_text())
    video_uri = next(u for u, a in master.items() if "RESOLUTION" in a)
    segments = playlists.parse_media_playlist((hls_root / video_uri).read_text())
    assert [u for u, _ in segments] == [f"seg_{n:05d}.ts" for n in range(1, len(segments) + 1)]
    assert all((hls_root / video_uri).parent.joinpath(u).is_file() for u, _ in segments)
    probe = probe_file(clip, rt.settings.limits)
    duration = probe["duration"] if isinstance(probe, dict) else probe.duration
    assert abs(sum(d for _, d in segments) - duration) <= 0.1
