"""Processing profiles over the API: built-ins read-only, stored ones validated field by field, and the
pipeline uses a stored profile as it is when the next upload's jobs run."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import select, text

from tests.integration.test_api import Api
from vidpipe.db import apikeys
from vidpipe.db.models import Asset, Fingerprint, Rendition
from vidpipe.ffmpeg import samples
from vidpipe.jobs.worker import Worker
from vidpipe.profiles import PROFILES
from vidpipe.server import create_app

SMALL = {"ladder": [{"height": 240, "video_kbps": 400, "audio_kbps": 64}], "segment_seconds": 2,
         "sprite_interval_seconds": 2, "x264_preset": "ultrafast", "analyzers": ["black"],
         "zero_shot_labels": ["sports", "cooking"]}


@pytest.fixture
def api(runtime) -> Iterator[Api]:
    with runtime.db.session() as s, s.begin():
        s.execute(text("TRUNCATE web_sessions, processing_profiles, upload_sessions"))
        key = apikeys.create_key(s, "editor").secret
    client = Api(create_app(runtime), key)
    yield client
    client.close()


def _put(api: Api, name: str, body: dict) -> object:
    return api.request("PUT", f"/v1/profiles/{name}", json=body)


def test_builtins_are_listed_and_read_only(api):
    items = api.get("/v1/profiles").json()["items"]
    assert [p["name"] for p in items] == list(PROFILES) and all(p["builtin"] for p in items)
    preview = api.get("/v1/profiles/preview").json()
    assert preview == {"name": "preview", "ladder": [{"height": 360, "video_kbps": 700, "audio_kbps": 96}],
                       "segment_seconds": 2.0, "sprite_interval_seconds": 2.0, "x264_preset": "ultrafast",
                       "ladder_mode": "fixed", "target_vmaf": 93.0, "loudness_target_lufs": None,
                       "analyzers": None, "zero_shot_labels": None, "chunking": "auto",
                       "chunk_threshold_seconds": None, "chunk_seconds": None, "builtin": True}
    assert api.get("/v1/profiles/standard").json()["ladder_mode"] == "per_title"
    r = _put(api, "standard", SMALL)
    assert r.status_code == 409 and r.json()["error"]["code"] == "builtin_profile"
    assert api.request("DELETE", "/v1/profiles/preview").status_code == 409
    assert api.get("/v1/profiles/nope").status_code == 404


@pytest.mark.parametrize(("change", "field", "words"), [
    ({"ladder": [{"height": 241, "video_kbps": 400}]}, "ladder.0.height", "even"),
    ({"ladder": [{"height": 100, "video_kbps": 400}]}, "ladder.0.height", "144"),
    ({"ladder": [{"height": 240, "video_kbps": 400}, {"height": 240, "video_kbps": 300}]}, "ladder", "own height"),
    ({"ladder": []}, "ladder", "at least 1"),
    ({"ladder": [{"height": 240, "video_kbps": 5}]}, "ladder.0.video_kbps", "100"),
    ({"segment_seconds": 0.5}, "segment_seconds", "1"),
    ({"sprite_interval_seconds": 90}, "sprite_interval_seconds", "60"),
    ({"x264_preset": "turbo"}, "x264_preset", "veryfast"),
    ({"target_vmaf": 120}, "target_vmaf", "99"),
    ({"ladder_mode": "magic"}, "ladder_mode", "per_title"),
    ({"analyzers": ["scenes", "mind_reading"]}, "analyzers", "mind_reading"),
    ({"colour": "red"}, "colour", "not permitted"),
    ({"chunk_threshold_seconds": 5}, "chunk_threshold_seconds", "10"),
    ({"chunk_seconds": 1.5}, "chunk_seconds", "at least one segment (2 s)"),
    ({"chunk_seconds": 7200}, "chunk_seconds", "1800"),
    ({"chunking": "sometimes"}, "chunking", "'never'"),
    ({"chunking": "never", "chunk_threshold_seconds": 600}, "chunk_threshold_seconds", "never chunks"),
    ({"chunking": "never", "chunk_seconds": 30}, "chunk_seconds", "never chunks"),
])
def test_invalid_definitions_get_a_message_per_field(api, change, field, words):
    r = _put(api, "mine", SMALL | change)
    assert r.status_code == 422
    err = r.json()["error"]
    assert err["code"] == "validation_error" and words in err["fields"][field] and field in err["message"]


def test_names_are_checked(api):
    for bad in ("Bad", "-x", "a" * 33, "sp ace"):
        r = _put(api, bad, SMALL)
        assert r.status_code in (404, 422) and "error" in r.json(), bad
    assert _put(api, "other", SMALL | {"name": "mine"}).json()["error"]["code"] == "name_mismatch"


def test_create_replace_list_delete(api, runtime):
    r = _put(api, "small-1", SMALL)
    assert r.status_code == 201
    assert r.json() == {**SMALL, "name": "small-1", "segment_seconds": 2.0, "sprite_interval_seconds": 2.0,
                        "ladder_mode": "fixed", "target_vmaf": 93.0, "loudness_target_lufs": None, "builtin": False,
                        "chunking": "auto", "chunk_threshold_seconds": None, "chunk_seconds": None,
                        "ladder": [{"height": 240, "video_kbps": 400, "audio_kbps": 64}]}
    r = _put(api, "small-1", SMALL | {"analyzers": None, "builtin": False, "name": "small-1"})  # GET's JSON back
    assert r.status_code == 200 and r.json()["analyzers"] is None
    items = api.get("/v1/profiles").json()["items"]
    assert [(p["name"], p["builtin"]) for p in items][-1] == ("small-1", False)
    assert api.request("DELETE", "/v1/profiles/small-1").status_code == 204
    assert api.get("/v1/profiles/small-1").status_code == 404
    assert api.request("DELETE", "/v1/profiles/small-1").status_code == 404
    r = api.post("/v1/assets", files={"file": ("x.mp4", b"abc", "video/mp4")}, data={"profile": "small-1"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "unknown_profile"


def _wait(runtime, asset_id: str, timeout: float = 180) -> Asset:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with runtime.db.session() as s:
            asset = s.get(Asset, uuid.UUID(asset_id))
            if asset.status in ("ready", "failed"):
                return asset
        time.sleep(0.2)
    raise AssertionError(f"asset {asset_id} not finished")


@pytest.mark.slow
def test_an_edited_profile_is_used_by_the_next_uploads_jobs(api, runtime, tmp_path):
    clips = [samples.make_video(tmp_path / f"c{i}.mp4", seconds=2 + i, width=480, height=270, scene_seconds=1)
             for i in range(2)]  # different bytes: the second must not be a duplicate of the first
    assert _put(api, "house", SMALL).status_code == 201
    worker = Worker(runtime, concurrency=2)
    worker.start()
    try:
        first = api.post("/v1/assets", files={"file": ("a.mp4", clips[0].read_bytes(), "video/mp4")},
                         data={"profile": "house"}).json()["id"]
        assert _wait(runtime, first).status == "ready"
        edited = SMALL | {"ladder": [{"height": 180, "video_kbps": 300, "audio_kbps": 64}],
                          "analyzers": ["fingerprints"]}
        assert _put(api, "house", edited).status_code == 200
        r = api.post("/v1/assets", files={"file": ("b.mp4", clips[1].read_bytes(), "video/mp4")},
                     data={"profile": "house"})
        assert r.status_code == 201
        second = r.json()["id"]
        assert _wait(runtime, second).status == "ready"
    finally:
        worker.request_stop()
        worker.join(timeout=30)
    with runtime.db.session() as s:
        def rungs(asset_id: str) -> list[str]:
            return list(s.scalars(select(Rendition.name).where(Rendition.asset_id == uuid.UUID(asset_id),
                                                               Rendition.kind == "video")))

        def prints(asset_id: str) -> set[str]:
            return set(s.scalars(select(Fingerprint.kind).where(Fingerprint.asset_id == uuid.UUID(asset_id))))

        assert rungs(first) == ["240p"] and rungs(second) == ["180p"]
        assert "phash" not in prints(first) and "phash" in prints(second)  # the analyzers the profile chose


def test_a_profiles_labels_reach_the_understanding_config(api, runtime, tmp_path):
    from vidpipe.contract import StageInput
    from vidpipe.db.profiles import resolve_profile
    from vidpipe.stages import analyze

    assert _put(api, "labelled", SMALL).status_code == 201
    with runtime.db.session() as s:
        profile = resolve_profile(s, "labelled")
        assert resolve_profile(s, "preview") is PROFILES["preview"]
    assert profile.analyzers == ("black",) and profile.zero_shot_labels == ("sports", "cooking")
    inp = StageInput(asset_id=uuid.uuid4(), source_path=tmp_path / "x", work_dir=tmp_path, profile=profile,
                     limits=runtime.settings.limits, settings=runtime.settings)
    options = analyze._embedding_options(inp)
    assert options["visual_embeddings"]["config"].zero_shot_labels == ("sports", "cooking")
    inp.profile = PROFILES["preview"]
    assert analyze._embedding_options(inp)["visual_embeddings"]["config"].zero_shot_labels != ("sports", "cooking")


def test_a_profiles_chunk_settings_decide_when_and_how_a_long_video_is_chunked(api, runtime, tmp_path):
    from vidpipe.contract import StageInput
    from vidpipe.db.profiles import resolve_profile
    from vidpipe.stages import chunk_plan

    body = SMALL | {"chunk_threshold_seconds": 45, "chunk_seconds": 12}
    r = _put(api, "long", body)
    assert r.status_code == 201 and (r.json()["chunk_threshold_seconds"], r.json()["chunk_seconds"]) == (45.0, 12.0)
    assert _put(api, "plain", SMALL).status_code == 201
    assert api.get("/v1/profiles/long").json()["chunk_seconds"] == 12.0
    with runtime.db.session() as s:
        long, plain = resolve_profile(s, "long"), resolve_profile(s, "plain")

    def settings_for(profile) -> tuple[float | None, float]:
        return chunk_plan.chunk_settings(StageInput(asset_id=uuid.uuid4(), source_path=tmp_path / "x",
                                                    work_dir=tmp_path, profile=profile,
                                                    limits=runtime.settings.limits, settings=runtime.settings))

    configured = runtime.settings.transcode
    assert settings_for(long) == (45.0, 12.0)
    assert settings_for(plain) == (configured.chunk_threshold_seconds, configured.chunk_seconds)


def test_a_never_chunk_profile_round_trips_and_keeps_long_videos_whole(api, runtime, tmp_path):
    from vidpipe.contract import StageInput
    from vidpipe.db.profiles import resolve_profile
    from vidpipe.stages import chunk_plan

    r = _put(api, "clips", SMALL | {"chunking": "never"})
    assert r.status_code == 201 and r.json()["chunking"] == "never" and r.json()["chunk_threshold_seconds"] is None
    assert api.get("/v1/profiles/clips").json()["chunking"] == "never"
    assert [p["chunking"] for p in api.get("/v1/profiles").json()["items"] if p["name"] == "clips"] == ["never"]
    assert _put(api, "clips", SMALL | {"chunking": "auto", "chunk_threshold_seconds": 60}).status_code == 200
    assert api.get("/v1/profiles/clips").json()["chunking"] == "auto"
    assert _put(api, "clips", SMALL | {"chunking": "never"}).status_code == 200
    with runtime.db.session() as s:
        clips = resolve_profile(s, "clips")
    assert clips.chunking == "never"
    inp = StageInput(asset_id=uuid.uuid4(), source_path=tmp_path / "x", work_dir=tmp_path, profile=clips,
                     limits=runtime.settings.limits, settings=runtime.settings)
    assert chunk_plan.chunk_settings(inp)[0] is None
