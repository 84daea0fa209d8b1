"""The analyze stage end to end: `analyze.run` on a 3 s clip with audio, persisted as the runner does."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.media_cache import MediaCache, default_cache_dir
from vidpipe.analysis import registry as analyze_registry
from vidpipe.contract import StageInput
from vidpipe.db import assets
from vidpipe.db.models import Artifact, Fingerprint, Segment
from vidpipe.errors import JobCancelledError
from vidpipe.ingest.service import IngestRequest, ingest_path
from vidpipe.profiles import get_profile
from vidpipe.settings import Limits, Settings
from vidpipe.stages import analyze, registry


def _input(source: Path, work: Path, asset_id: uuid.UUID | None = None, **kw) -> StageInput:
    work.mkdir(parents=True, exist_ok=True)
    return StageInput(asset_id=asset_id or uuid.uuid4(), source_path=source, work_dir=work,
                      profile=get_profile("standard"), limits=Limits(), **kw)


def test_analyze_is_a_stage_after_probe():
    assert registry.get_stage("analyze").after == ("probe",)


def test_stage_end_to_end_and_persisted(runtime, tmp_path):
    clip = tmp_path / "clip.mp4"
    shutil.copy(MediaCache(default_cache_dir()).get("small_360p"), clip)  # 3 s, 640x360, 2 scenes, 440 Hz AAC
    asset_id = ingest_path(runtime, clip, IngestRequest(source_kind="path", profile="standard"),
                           roots=[tmp_path]).asset.id
    progress: list[float] = []
    result = analyze.run(_input(clip, tmp_path / "out", asset_id, progress=progress.append))

    status = result.understanding.analyzers  # by default every analyzer and every registered deriver
    assert all(status[name] == "ok" for name in analyze_registry.analyzer_names()), status
    assert all(v == "ok" or v.startswith("unavailable: ") for v in status.values()), status
    assert progress[-1] == 1.0 and progress == sorted(progress)
    assert result.metadata["analysis"]["decodes"] == {"video": 1, "audio": 1}
    assert result.metadata["loudness"]["integrated_lufs"] == pytest.approx(-21.8, abs=1.0)
    assert set(result.metadata["analysis"]["timings"]) >= {"scenes", "loudness", "speech", "decode_wall"}
    kinds = {o.kind for o in result.outputs}
    assert {"scene_keyframe", "oneshot", "oneshot_pack"} <= kinds
    for out in result.outputs:
        assert out.path.is_file() and out.path.stat().st_size > 0 and out.key.startswith("analysis/")
    scenes = [s for s in result.understanding.segments if s.kind == "scene"]
    assert [(s.start, s.end) for s in scenes] == [(0.0, 1.5), (1.5, 3.0)]

    with runtime.db.session() as s, s.begin():
        assets.save_stage_result(s, asset_id, "analyze", result, {})
    with runtime.db.session() as s:
        rows = s.scalars(select(Segment).where(Segment.asset_id == asset_id).order_by(Segment.start_s)).all()
        assert {r.kind for r in rows} >= {"scene", "oneshot"}
        assert next(r for r in rows if r.kind == "scene").keyframe_key == f"{asset_id}/analysis/scene-001.jpg"
        prints = {f.kind: f.data for f in s.scalars(select(Fingerprint).where(Fingerprint.asset_id == asset_id))}
        assert set(prints) == {"phash", "dhash", "audio", "loudness"} and len(prints["phash"]["hashes"]) >= 16
        # The measured loudness is kept and GET /v1/assets/{id} (this view) returns it.
        from vidpipe.api.views import load_asset

        loud = load_asset(s, asset_id, None).loudness
        assert loud is not None and loud.integrated_lufs == result.metadata["loudness"]["integrated_lufs"]
        assert loud.range_lu is not None and loud.true_peak_dbtp is not None and loud.channels
        stored = set(s.scalars(select(Artifact.kind).where(Artifact.asset_id == asset_id,
                                                          Artifact.stage == "analyze")))
        assert {"scene_keyframe", "oneshot_pack"} <= stored


def test_analyzer_list_from_the_environment_and_cancellation(tmp_path, monkeypatch):
    clip = MediaCache(default_cache_dir()).get("small_360p")
    monkeypatch.setenv("VIDPIPE_ANALYZERS", "black, loudness")
    monkeypatch.setenv("VIDPIPE_EMBEDDERS", "")  # no embedder: only the two analyzers run
    result = analyze.run(_input(clip, tmp_path / "a", settings=Settings(_env_file=None, data_dir=tmp_path)))
    assert result.understanding.analyzers == {"black": "ok", "loudness": "ok"}
    with pytest.raises(JobCancelledError):
        analyze.run(_input(clip, tmp_path / "b", should_stop=lambda: True))


def test_profile_analyzer_options_reach_the_scene_detector(tmp_path):
    import dataclasses

    clip = MediaCache(default_cache_dir()).get("small_360p")  # 2 scenes
    inp = _input(clip, tmp_path / "a")
    strict = dataclasses.replace(inp.profile, analyzer_options={"scenes": {"detector": "hard", "threshold": 250}})
    result = analyze.run(dataclasses.replace(inp, profile=strict), analyzers=["scenes"])
    assert result.metadata["analysis"]["results"]["scenes"]["detector"] == "hard"
    assert result.metadata["analysis"]["results"]["scenes"]["scenes"] == 1  # nothing changes by 250/255
