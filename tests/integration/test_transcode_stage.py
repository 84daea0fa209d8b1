"""The transcode stage end to end: real bundled ffmpeg on short generated clips."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import av
import pytest

from vidpipe.contract import StageInput, StageResult
from vidpipe.errors import JobCancelledError, MediaDecodeError
from vidpipe.ffmpeg import playlists, process, samples
from vidpipe.profiles import Profile, Rung
from vidpipe.settings import Limits
from vidpipe.stages import transcode

# Small and quick: 1 s segments so a 3 s clip has several, ultrafast x264.
PROFILE = Profile("itest", (Rung(1080, 3000), Rung(720, 1500), Rung(360, 500, 64)), segment_seconds=1.0,
                  x264_preset="ultrafast", audio_only_kbps=96)
SEG = PROFILE.segment_seconds


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    """Every source clip, generated once for the module."""
    d = tmp_path_factory.mktemp("transcode_media")
    return {
        "landscape": samples.make_video(d / "landscape.mp4", width=1280, height=720, seconds=3, scene_seconds=1),
        "portrait": samples.make_video(d / "portrait.mp4", width=640, height=360, seconds=2, rotation=90),
        "silent": samples.make_video(d / "silent.mp4", width=640, height=360, seconds=2, audio=False),
        "bilingual": samples.make_video(d / "bilingual.mp4", width=640, height=360, seconds=2,
                                        audio_languages=("eng", "spa")),
        "vfr": samples.make_video(d / "vfr.mp4", width=640, height=360, seconds=3, vfr=True),
        "tiny": samples.make_video(d / "tiny.mp4", width=250, height=140, seconds=2, audio=False),
        "mp3": samples.make_audio(d / "tone.mp3", seconds=3),
        "wav": samples.make_audio(d / "tone.wav", seconds=3),
        "flac": samples.make_audio(d / "tone.flac", seconds=3),
        "garbage": samples.make_random_bytes(d / "garbage.mp4", size=64 * 1024),
    }


def run_stage(source: Path, work: Path, **kwargs) -> StageResult:
    work.mkdir(parents=True, exist_ok=True)
    return transcode.run(StageInput(uuid.uuid4(), source, work, PROFILE, Limits(), **kwargs))


@pytest.fixture(scope="module")
def landscape(media, tmp_path_factory) -> tuple[StageResult, Path, list[float]]:
    work = tmp_path_factory.mktemp("landscape_out")
    seen: list[float] = []
    return run_stage(media["landscape"], work, progress=seen.append), work, seen


def master_of(work: Path) -> dict[str, dict[str, str]]:
    return playlists.parse_master((work / "hls" / "master.m3u8").read_text())


def segments_of(work: Path, name: str) -> list[tuple[Path, float]]:
    playlist = work / "hls" / name / "index.m3u8"
    return [(playlist.parent / uri, d) for uri, d in playlists.parse_media_playlist(playlist.read_text())]


def first_video_frames(segment: Path, count: int = 1) -> list[av.VideoFrame]:
    with av.open(str(segment)) as c:
        frames = []
        for frame in c.decode(video=0):
            frames.append(frame)
            if len(frames) == count:
                break
        return frames


def test_landscape_ladder_stops_at_the_source_size(landscape):
    result, work, _ = landscape
    videos = [r for r in result.renditions if r.kind == "video"]
    assert [(r.name, r.width, r.height) for r in videos] == [("720p", 1280, 720), ("360p", 640, 360)]
    assert [r["name"] for r in result.metadata["ladder"]] == ["720p", "360p"]
    assert result.metadata["segment_seconds"] == SEG
    for r in videos:
        assert r.playlist_key == f"hls/{r.name}/index.m3u8"
        assert r.codecs.startswith("avc1.") and r.codecs.endswith(",mp4a.40.2")


def test_outputs_are_predictable_keys_of_existing_files(landscape):
    result, work, _ = landscape
    keys = {o.key: o for o in result.outputs}
    assert keys["hls/master.m3u8"].kind == "hls_master"
    assert keys["hls/720p/index.m3u8"].kind == "hls_playlist"
    assert keys["hls/720p/seg_00001.ts"].kind == "hls_segment"
    assert keys["hls/720p/seg_00001.ts"].content_type == "video/mp2t"
    for out in result.outputs:
        assert out.path.is_file() and out.path.stat().st_size > 0
        assert out.path == work / out.key


def test_master_and_media_playlists(landscape):
    result, work, _ = landscape
    master = master_of(work)
    for r in result.renditions:
        attrs = master[f"{r.name}/index.m3u8"]
        assert int(attrs["BANDWIDTH"]) == r.bandwidth > 0
        assert attrs["RESOLUTION"] == f"{r.width}x{r.height}"
        assert attrs["CODECS"] == r.codecs
        segments = segments_of(work, r.name)
        assert len(segments) == 3
        assert all(abs(d - SEG) < 0.05 for _, d in segments[:-1])
        assert sum(d for _, d in segments) == pytest.approx(3.0, abs=0.1)
        text = (work / "hls" / r.name / "index.m3u8").read_text()
        assert "#EXT-X-PLAYLIST-TYPE:VOD" in text and "#EXT-X-ENDLIST" in text
        assert "#EXT-X-INDEPENDENT-SEGMENTS" in text


def test_keyframes_aligned_across_rungs(landscape):
    _, work, _ = landscape
    starts = {}
    for name in ("720p", "360p"):
        frames = [first_video_frames(seg)[0] for seg, _ in segments_of(work, name)]
        assert all(f.key_frame for f in frames)
        starts[name] = [f.pts for f in frames]
    assert starts["720p"] == starts["360p"]


def test_progress_reported_up_to_one(landscape):
    _, _, seen = landscape
    assert seen and seen[-1] == 1.0
    assert all(0.0 <= f <= 1.0 for f in seen)


def test_rotated_portrait_gives_portrait_renditions(media, tmp_path):
    result = run_stage(media["portrait"], tmp_path)
    [rung] = [r for r in result.renditions if r.kind == "video"]
    assert (rung.name, rung.width, rung.height) == ("360p", 360, 640)
    frame = first_video_frames(segments_of(tmp_path, "360p")[0][0])[0]
    assert (frame.width, frame.height) == (360, 640)
    assert master_of(tmp_path)["360p/index.m3u8"]["RESOLUTION"] == "360x640"


def test_video_without_audio_is_video_only(media, tmp_path):
    result = run_stage(media["silent"], tmp_path)
    codecs = master_of(tmp_path)["360p/index.m3u8"]["CODECS"]
    assert "mp4a" not in codecs and codecs.startswith("avc1.")
    assert [r.kind for r in result.renditions] == ["video"]
    with av.open(str(segments_of(tmp_path, "360p")[0][0])) as c:
        assert not c.streams.audio


def test_source_below_every_rung_keeps_its_size(media, tmp_path):
    result = run_stage(media["tiny"], tmp_path)
    assert [(r.name, r.width, r.height) for r in result.renditions] == [("140p", 250, 140)]


def test_two_audio_tracks_become_alternate_renditions(media, tmp_path):
    result = run_stage(media["bilingual"], tmp_path)
    text = (tmp_path / "hls" / "master.m3u8").read_text()
    media_lines = [ln for ln in text.splitlines() if ln.startswith("#EXT-X-MEDIA:TYPE=AUDIO")]
    assert len(media_lines) == 2
    assert 'LANGUAGE="eng"' in media_lines[0] and 'LANGUAGE="spa"' in media_lines[1]
    assert sum("DEFAULT=YES" in ln for ln in media_lines) == 1
    audio = [r for r in result.renditions if r.kind == "audio"]
    assert [(r.name, r.language, r.playlist_key) for r in audio] == [
        ("audio_eng", "eng", "hls/audio_eng/index.m3u8"), ("audio_spa", "spa", "hls/audio_spa/index.m3u8")]
    assert master_of(tmp_path)["360p/index.m3u8"]["AUDIO"] == "aud"
    for name in ("audio_eng", "audio_spa"):
        seg = segments_of(tmp_path, name)[0][0]
        with av.open(str(seg)) as c:
            assert c.streams.audio and not c.streams.video
    with av.open(str(segments_of(tmp_path, "360p")[0][0])) as c:
        assert not c.streams.audio  # the rung carries video only; audio comes from the group


@pytest.mark.parametrize("kind", ["mp3", "wav", "flac"])
def test_audio_only_gets_audio_rendition_and_waveform(media, tmp_path, kind):
    result = run_stage(media[kind], tmp_path)
    assert [(r.name, r.kind, r.codecs) for r in result.renditions] == [("audio", "audio", "mp4a.40.2")]
    assert master_of(tmp_path)["audio/index.m3u8"]["CODECS"] == "mp4a.40.2"
    assert sum(d for _, d in segments_of(tmp_path, "audio")) == pytest.approx(3.0, abs=0.15)
    [wave] = [o for o in result.outputs if o.kind == "waveform"]
    assert wave.key == "waveform.json" and wave.content_type == "application/json"
    doc = json.loads(wave.path.read_text())
    assert 900 <= doc["length"] <= 1000 and len(doc["data"]) == 2 * doc["length"]
    assert doc["sample_rate"] == 44100 and doc["duration"] == pytest.approx(3.0, abs=0.1)
    lows, highs = doc["data"][0::2], doc["data"][1::2]
    assert all(-1 <= lo <= hi <= 1 for lo, hi in zip(lows, highs, strict=True))
    assert 0.05 < max(highs) <= 1 and min(highs) < 0.8 * max(highs)  # the tremolo shows


def test_vfr_source_comes_out_constant_rate(media, tmp_path):
    result = run_stage(media["vfr"], tmp_path)
    fps = result.metadata["fps"]
    assert fps == round(fps) and 20 <= fps <= 30  # the source's average rate (frames were dropped from 30)
    for seg, _ in segments_of(tmp_path, "360p"):
        with av.open(str(seg)) as c:
            stream = c.streams.video[0]
            pts = [f.pts for f in c.decode(stream)]
        steps = [b - a for a, b in zip(pts, pts[1:], strict=False)]
        # One frame duration throughout; MPEG-TS's 90 kHz clock rounds 1/fps by at most one tick.
        assert max(steps) - min(steps) <= 1, steps
        assert float(sum(steps) / len(steps) * stream.time_base) == pytest.approx(1 / fps, rel=1e-3)


def test_should_stop_cancels_and_leaves_no_ffmpeg(media, tmp_path, monkeypatch):
    started = []
    real_popen = process.popen_ffmpeg

    def spy(args, **kwargs):
        proc = real_popen(args, **kwargs)
        started.append(proc)
        return proc

    monkeypatch.setattr(process, "popen_ffmpeg", spy)
    with pytest.raises(JobCancelledError):
        run_stage(media["landscape"], tmp_path, should_stop=lambda: True)
    assert len(started) == 1 and started[0].poll() is not None


def test_undecodable_input_is_a_permanent_decode_error(media, tmp_path):
    fake_probe = {"has_video": True, "has_audio": False, "width": 640, "height": 360, "fps": 30, "duration": 2.0,
                  "streams": [{"index": 0, "type": "video"}]}
    with pytest.raises(MediaDecodeError) as info:
        run_stage(media["garbage"], tmp_path, probe=fake_probe)
    assert not info.value.retryable


def test_ffmpeg_failure_mid_run_is_a_permanent_decode_error(media, tmp_path, monkeypatch):
    real = transcode.hls.build_ffmpeg_args

    def broken(plan, input_args, out_dir, **kw):  # an encoder option ffmpeg rejects once it is running
        return [a if a != "libx264" else "no_such_encoder" for a in real(plan, input_args, out_dir, **kw)]

    monkeypatch.setattr(transcode.hls, "build_ffmpeg_args", broken)
    with pytest.raises(MediaDecodeError) as info:
        run_stage(media["silent"], tmp_path)
    assert str(info.value) == "transcode failed: Error opening output files: Encoder not found"
