"""A worker SIGKILLed in the middle of a transcode: its ffmpeg dies with it, the job is reclaimed after the
lease expires and completes once, with no duplicated rows and no temp files left behind."""

from __future__ import annotations

import os
import signal
from collections import Counter
from pathlib import Path

import pytest

from tests.acceptance.conftest import (
    asset_statuses,
    child_env,
    events_of,
    ingest_file,
    jobs_of,
    live_ffmpeg,
    wait_for,
)
from vidpipe.ffmpeg import playlists, samples
from vidpipe.stages import registry

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    # The standard profile on 8 s of 640x360 keeps ffmpeg busy for a couple of seconds: long enough to kill.
    return samples.make_video(tmp_path_factory.mktemp("crash") / "crash-me.mp4", width=640, height=360, seconds=8)


def test_sigkill_mid_transcode_is_reclaimed_once_and_leaves_nothing(settings, runtime, procs, clip) -> None:
    asset_id = ingest_file(runtime, clip, profile="standard")
    env = child_env(settings, job_lease_seconds=3, job_heartbeat_seconds=0.5)
    scratch = str(settings.scratch_root)

    first = procs.spawn(["worker", "-c", "1"], env, name="worker-1")

    def transcode_running():
        job = next((j for j in jobs_of(runtime, asset_id) if j.stage == "transcode"), None)
        return job if job is not None and job.status == "running" else None

    job = wait_for(transcode_running, timeout=60, interval=0.05, what="the transcode job to run", procs=[first])
    marker = os.path.join(scratch, f"job-{job.id}-a1")
    victims = wait_for(lambda: live_ffmpeg(marker), timeout=10, interval=0.02,
                       what="the transcode's ffmpeg to start", procs=[first])
    assert transcode_running() is not None, "transcode finished before it could be killed; make the clip longer"

    first.popen.send_signal(signal.SIGKILL)  # the worker only, not its group: PR_SET_PDEATHSIG must do the rest
    assert first.wait(timeout=10) == -signal.SIGKILL
    # PR_SET_PDEATHSIG kills it at once; ffmpeg finishing its (seconds-long) encode on its own would be too late.
    wait_for(lambda: not live_ffmpeg(scratch), timeout=1.0, interval=0.02,
             what=f"ffmpeg {victims} to die with its SIGKILLed worker")
    assert Path(marker).is_dir(), "the killed attempt's work dir should still be there for the next run to clear"

    second = procs.spawn(["worker", "-c", "1"], env, name="worker-2")
    wait_for(lambda: asset_statuses(runtime, [asset_id]).get(asset_id) in ("ready", "failed"), timeout=120,
             interval=0.3, what="the asset to finish", procs=[second])
    assert asset_statuses(runtime, [asset_id])[asset_id] == "ready"

    # The transcode ran twice: the killed attempt and the reclaim; the reclaim is visible in the audit log.
    (transcode_job,) = [j for j in jobs_of(runtime, asset_id) if j.stage == "transcode"]
    assert transcode_job.id == job.id
    assert (transcode_job.status, transcode_job.attempts) == ("succeeded", 2)
    claims = [e for e in events_of(runtime, asset_id=asset_id, event="job.claimed") if e.job_id == job.id]
    assert [(c.detail["attempt"], c.detail["reclaimed"]) for c in claims] == [(1, False), (2, True)]
    assert claims[0].actor != claims[1].actor  # the second worker took it over

    succeeded = Counter(e.detail["stage"] for e in events_of(runtime, asset_id=asset_id, event="job.succeeded"))
    assert succeeded == Counter({name: 1 for name in registry.STAGES})
    assert not events_of(runtime, asset_id=asset_id, event="job.failed")

    # No duplicated rows: renditions match the master playlist's variants one to one; artifact keys unique.
    from vidpipe.db.models import Asset

    with runtime.db.session() as s:
        asset = s.get(Asset, asset_id)
        renditions = [r.name for r in asset.renditions]
        playlist_keys = {r.playlist_key for r in asset.renditions}
        artifact_keys = [a.key for a in asset.artifacts]
        master_key = next(a.key for a in asset.artifacts if a.kind == "hls_master")
    assert len(renditions) == len(set(renditions)) > 0
    assert len(artifact_keys) == len(set(artifact_keys))
    master = playlists.parse_master((settings.media_root / master_key).read_text())
    master_dir = master_key.rsplit("/", 1)[0]
    assert {f"{master_dir}/{uri}" for uri in master} == playlist_keys
    assert len(master) == len(renditions)
    for key in artifact_keys:
        assert (settings.media_root / key).is_file(), key

    # No temp files: the killed attempt's work dir was cleared, nothing is in flight in the media store.
    wait_for(lambda: not list(settings.scratch_root.glob("job-*")), timeout=5, what="scratch to be empty")
    assert not list((settings.media_root / ".incoming").iterdir())
