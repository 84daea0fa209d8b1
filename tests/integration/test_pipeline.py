"""The whole pipeline in one process: ingest → worker → probe, thumbnails, transcode → ready; idempotent
re-runs; bad input fails once with a reason while good input goes on."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select

from vidpipe.db.models import Artifact, Asset, Event, Job, MediaInfo, Rendition
from vidpipe.ffmpeg import samples
from vidpipe.ingest.service import IngestRequest, ingest_path
from vidpipe.jobs.reprocess import assets_missing_stage, reprocess_asset
from vidpipe.jobs.worker import Worker
from vidpipe.stages.registry import STAGES


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("pipeline-media")
    return {
        "clip": samples.make_video(d / "clip.mp4", width=480, height=270, seconds=3, scene_seconds=1.0),
        "song": samples.make_audio(d / "song.flac", seconds=2),
        "junk": samples.make_random_bytes(d / "junk.mp4", size=64 * 1024),
    }


def _wait_terminal(rt, ids: list[uuid.UUID], timeout: float = 120) -> dict[uuid.UUID, Asset]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with rt.db.session() as s:
            rows = {a.id: a for a in s.scalars(select(Asset).where(Asset.id.in_(ids)))}
        if all(a.status in ("ready", "failed") for a in rows.values()):
            return rows
        time.sleep(0.2)
    raise AssertionError(f"assets not finished in {timeout}s: {[(a.id, a.status) for a in rows.values()]}")


def _ingest(rt, path: Path, root: Path) -> uuid.UUID:
    return ingest_path(rt, path, IngestRequest(source_kind="path", profile="preview"), roots=[root]).asset.id


@pytest.fixture
def worker(runtime):
    w = Worker(runtime, concurrency=2)
    w.start()
    yield w
    w.request_stop()
    w.join(timeout=30)


def test_video_goes_from_ingest_to_ready_with_every_output(runtime, worker, media):
    asset_id = _ingest(runtime, media["clip"], media["clip"].parent)
    asset = _wait_terminal(runtime, [asset_id])[asset_id]
    assert asset.status == "ready", asset.error_message
    with runtime.db.session() as s:
        info = s.get(MediaInfo, asset_id)
        assert (info.width, info.height, info.video_codec, info.has_audio) == (480, 270, "h264", True)
        assert info.duration == pytest.approx(3.0, abs=0.2)
        kinds = set(s.scalars(select(Artifact.kind).where(Artifact.asset_id == asset_id)))
        assert {"hls_master", "hls_playlist", "hls_segment", "poster", "sprite", "sprite_vtt"} <= kinds
        renditions = s.scalars(select(Rendition).where(Rendition.asset_id == asset_id)).all()
        assert [r.name for r in renditions if r.kind == "video"] == ["270p"]  # preview's 360p rung: no upscale
        for key in s.scalars(select(Artifact.key).where(Artifact.asset_id == asset_id)):
            assert runtime.media_store.exists(key)
        names = [e.event for e in s.scalars(select(Event).where(Event.asset_id == asset_id).order_by(Event.id))]
    assert names[0] == "asset.created"
    assert names.count("job.succeeded") == len(STAGES)
    assert names[-1] == "asset.status_changed"
    master = runtime.media_store.path_for(f"{asset_id}/hls/master.m3u8").read_text()
    assert "#EXT-X-STREAM-INF" in master and "RESOLUTION=480x270" in master


def test_reprocess_replaces_outputs_without_duplicates(runtime, worker, media):
    asset_id = _ingest(runtime, media["clip"], media["clip"].parent)
    assert _wait_terminal(runtime, [asset_id])[asset_id].status == "ready"

    def outputs():
        with runtime.db.session() as s:
            return (sorted(s.scalars(select(Artifact.key).where(Artifact.asset_id == asset_id))),
                    sorted(s.scalars(select(Rendition.name).where(Rendition.asset_id == asset_id))))

    before = outputs()
    with runtime.db.session() as s, s.begin():
        reprocess_asset(s, asset_id, "probe", actor="test")  # probe and everything after it
    time.sleep(0.3)
    assert _wait_terminal(runtime, [asset_id])[asset_id].status == "ready"
    assert outputs() == before
    with runtime.db.session() as s:
        done = s.execute(select(Job.stage, func.count()).where(Job.asset_id == asset_id, Job.status == "succeeded")
                         .group_by(Job.stage)).all()
        assert dict(done) == dict.fromkeys(STAGES, 2)
        assert assets_missing_stage(s, "transcode") == []
    stored = set(runtime.media_store.list(str(asset_id)))
    assert stored == set(before[0]) | {f"{asset_id}/original"}  # nothing stale left in the store


def test_audio_only_gets_audio_hls_and_waveform(runtime, worker, media):
    asset_id = _ingest(runtime, media["song"], media["song"].parent)
    assert _wait_terminal(runtime, [asset_id])[asset_id].status == "ready"
    with runtime.db.session() as s:
        kinds = set(s.scalars(select(Artifact.kind).where(Artifact.asset_id == asset_id)))
        renditions = s.scalars(select(Rendition).where(Rendition.asset_id == asset_id)).all()
    assert "waveform" in kinds and "poster" not in kinds
    assert [r.kind for r in renditions] == ["audio"]


def test_bad_input_fails_once_with_a_reason_and_the_worker_goes_on(runtime, worker, media):
    junk = _ingest(runtime, media["junk"], media["junk"].parent)
    good = _ingest(runtime, media["song"], media["song"].parent)
    done = _wait_terminal(runtime, [junk, good])
    assert done[good].status == "ready"
    assert done[junk].status == "failed"
    assert done[junk].error_code in ("media_decode_error", "unsupported_media")
    assert "Traceback" not in done[junk].error_message and len(done[junk].error_message) > 10
    with runtime.db.session() as s:
        probe_job = s.scalar(select(Job).where(Job.asset_id == junk, Job.stage == "probe"))
        assert (probe_job.status, probe_job.attempts) == ("failed", 1)
        assert s.scalar(select(func.count()).select_from(Job).where(Job.asset_id == junk)) == 1


def test_identical_bytes_are_recognised(runtime, media):
    first = ingest_path(runtime, media["song"], IngestRequest(source_kind="path"), roots=[media["song"].parent])
    again = ingest_path(runtime, media["song"], IngestRequest(source_kind="path"), roots=[media["song"].parent])
    assert again.duplicate and again.asset.id == first.asset.id
    with runtime.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Asset)) == 1
        assert s.scalar(select(func.count()).select_from(Job)) == 1
    assert list(Path(runtime.settings.media_root, ".incoming").iterdir()) == []
