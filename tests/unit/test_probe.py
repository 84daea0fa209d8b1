"""probe_file and the probe stage over every sample type and every bad input."""

from __future__ import annotations

import json
import time
import uuid
from fractions import Fraction
from pathlib import Path

import pytest

from vidpipe.contract import StageInput
from vidpipe.errors import LimitExceededError, MediaDecodeError, UnsafeSourceError, UnsupportedMediaError
from vidpipe.ffmpeg.probe import PROBE_KEYS, display_size, is_vfr, normalise_rotation, probe_file, with_picture_colour
from vidpipe.ffmpeg.process import run_ffmpeg
from vidpipe.profiles import get_profile
from vidpipe.settings import Limits
from vidpipe.stages import probe as probe_stage

LIMITS = Limits()


def test_1080p_h264_aac(media) -> None:
    path = media.get("h264_1080p")
    info = probe_file(path, LIMITS)
    assert tuple(info) == PROBE_KEYS
    json.dumps(info)  # serialisable as is
    assert "mp4" in info["format"].split(",")
    assert info["format_long"]
    assert info["duration"] == pytest.approx(4.0, abs=0.1)
    assert info["size"] == path.stat().st_size
    assert isinstance(info["bit_rate"], int) and info["bit_rate"] > 100_000
    assert (info["width"], info["height"], info["rotation"]) == (1920, 1080, 0)
    assert (info["video_codec"], info["audio_codec"]) == ("h264", "aac")
    assert info["has_video"] and info["has_audio"]
    assert info["fps"] == pytest.approx(30.0, abs=0.01)
    assert info["is_vfr"] is False
    assert info["chapters"] == []
    video, audio = info["streams"]
    assert video["type"] == "video" and audio["type"] == "audio"
    assert (video["width"], video["height"], video["pix_fmt"]) == (1920, 1080, "yuv420p")
    assert video["frames"] == 120
    assert video["hdr"] is False
    assert video["duration"] == pytest.approx(4.0, abs=0.1)
    assert (audio["sample_rate"], audio["channels"], audio["channel_layout"]) == (48000, 2, "stereo")
    assert audio["language"] == "eng"
    assert audio["profile"] == "LC"
    for stream in info["streams"]:
        assert {"index", "type", "codec", "profile", "bit_rate", "language", "title", "duration"} <= set(stream)


def test_720p(media) -> None:
    info = probe_file(media.get("h264_720p"), LIMITS)
    assert (info["width"], info["height"]) == (1280, 720)
    assert info["duration"] == pytest.approx(6.0, abs=0.1)


@pytest.mark.parametrize(("name", "codec", "fmt"), [("mp3", "mp3", "mp3"), ("wav", "pcm_s16le", "wav"),
                                                    ("flac", "flac", "flac")])
def test_audio_only(media, name: str, codec: str, fmt: str) -> None:
    info = probe_file(media.get(name), LIMITS)
    assert info["format"] == fmt
    assert info["has_video"] is False and info["has_audio"] is True
    assert info["audio_codec"] == codec
    assert info["video_codec"] is None and info["width"] is None and info["height"] is None and info["fps"] is None
    assert info["is_vfr"] is False
    (audio,) = info["streams"]
    assert (audio["sample_rate"], audio["channels"]) == (44100, 2)
    assert info["duration"] == pytest.approx(3.0 if name == "mp3" else 2.0, abs=0.1)


def test_portrait_rotated_90_reports_display_size(media) -> None:
    info = probe_file(media.get("portrait_rot90"), LIMITS)
    assert info["rotation"] == 90
    assert (info["width"], info["height"]) == (360, 640)  # display size, after rotation
    video = info["streams"][0]
    assert (video["width"], video["height"], video["rotation"]) == (640, 360, 90)  # coded size


def test_multi_audio_mkv_with_languages(media) -> None:
    info = probe_file(media.get("multi_audio_mkv"), LIMITS)
    assert "matroska" in info["format"]
    audio = [s for s in info["streams"] if s["type"] == "audio"]
    assert [s["language"] for s in audio] == ["eng", "fra", "deu"]
    assert info["audio_codec"] == "aac"


def test_vfr_is_detected_and_cfr_is_not(media) -> None:
    vfr = probe_file(media.get("vfr"), LIMITS)
    assert vfr["is_vfr"] is True
    assert vfr["fps"] < 30
    for name in ("h264_720p", "multi_audio_mkv", "no_audio"):
        assert probe_file(media.get(name), LIMITS)["is_vfr"] is False, name


def test_video_without_audio(media) -> None:
    info = probe_file(media.get("no_audio"), LIMITS)
    assert info["has_video"] is True and info["has_audio"] is False
    assert info["audio_codec"] is None
    assert [s["type"] for s in info["streams"]] == ["video"]


def test_chapters_and_tags(media) -> None:
    info = probe_file(media.get("chapters_mkv"), LIMITS)
    assert info["chapters"] == [{"start": 0.0, "end": 2.0, "title": "Opening"},
                                {"start": 2.0, "end": 4.0, "title": "Credits"}]
    assert info["tags"]["title"] == "Chapter test"


@pytest.mark.parametrize(("name", "transfer"), [("hdr_pq", "smpte2084"), ("hdr_hlg", "arib-std-b67")])
def test_hdr_transfer(media, name: str, transfer: str) -> None:
    (video,) = probe_file(media.get(name), LIMITS)["streams"]
    assert (video["color_transfer"], video["hdr"], video["pix_fmt"]) == (transfer, True, "yuv420p10le")


def test_sdr_is_not_hdr(media) -> None:
    video = probe_file(media.get("h264_720p"), LIMITS)["streams"][0]
    assert video["hdr"] is False


# --- bad inputs ----------------------------------------------------------------------------------
def test_zero_byte_file(tmp_path: Path) -> None:
    empty = tmp_path / "upload.mp4"
    empty.write_bytes(b"")
    with pytest.raises(UnsupportedMediaError, match="empty file"):
        probe_file(empty, LIMITS)


def test_truncated_mp4(media) -> None:
    with pytest.raises(MediaDecodeError, match="truncated"):
        probe_file(media.truncated("h264_720p", 0.3), LIMITS)


def test_truncated_mkv_keeps_its_header_but_not_its_end(media) -> None:
    assert probe_file(media.get("mkv_6s"), LIMITS)["duration"] == pytest.approx(6.0, abs=0.1)
    with pytest.raises(MediaDecodeError, match="truncated: its header declares 6.0 s"):
        probe_file(media.truncated("mkv_6s", 0.4), LIMITS)


def test_mpegts(media) -> None:
    info = probe_file(media.get("mpegts"), LIMITS)
    assert info["format"] == "mpegts"
    assert info["duration"] == pytest.approx(6.0, abs=0.1)
    assert (info["width"], info["height"], info["fps"], info["is_vfr"]) == (320, 180, 30.0, False)


def test_truncated_before_the_index(media, tmp_path: Path) -> None:
    head = tmp_path / "head.mp4"
    head.write_bytes(media.get("h264_720p").read_bytes()[:2000])  # inside the moov atom
    with pytest.raises(MediaDecodeError):
        probe_file(head, LIMITS)


def test_random_bytes_named_mp4(media) -> None:
    with pytest.raises(MediaDecodeError, match="not a readable video or audio file"):
        probe_file(media.get("random_mp4"), LIMITS)


def test_text_file(tmp_path: Path) -> None:
    path = tmp_path / "movie.mkv"
    path.write_text("Subject: my holiday video\n\nSee attached.\n")
    with pytest.raises(UnsupportedMediaError, match=r"detected format: text"):
        probe_file(path, LIMITS)


@pytest.mark.parametrize("name", ["still_png", "still_jpeg", "still_mkv"])
def test_still_image_is_not_a_video(media, name: str) -> None:
    with pytest.raises(UnsupportedMediaError, match="still image is not a video"):
        probe_file(media.get(name), LIMITS)


@pytest.mark.parametrize("name", ["huge_header", "huge_16k_header"])
def test_oversized_frame_header_fails_fast_without_decoding(media, name: str) -> None:
    started = time.perf_counter()
    with pytest.raises(LimitExceededError, match="pixel limit"):
        probe_file(media.get(name), LIMITS)
    assert time.perf_counter() - started < 1.0


def test_pixel_limit_names_the_size(media) -> None:
    with pytest.raises(LimitExceededError, match=r"1280x720 = 921600 pixels exceed the limit of 100000"):
        probe_file(media.get("h264_720p"), Limits(max_frame_pixels=100_000))


def test_duration_limit(media) -> None:
    with pytest.raises(LimitExceededError, match=r"too long: 6 s \(the limit is 2 s\)"):
        probe_file(media.get("h264_720p"), Limits(max_duration_seconds=2))


def test_stream_limit(media) -> None:
    with pytest.raises(LimitExceededError, match=r"too many streams: 18 \(the limit is 16\)"):
        probe_file(media.get("many_streams"), LIMITS)
    assert len(probe_file(media.get("many_streams"), Limits(max_streams=32))["streams"]) == 18


def test_playlist_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "video.mp4"
    path.write_text("#EXTM3U\n#EXTINF:10,\nfile:///etc/passwd\n")
    with pytest.raises(UnsafeSourceError) as info:
        probe_file(path, LIMITS)
    assert "root:" not in str(info.value)


# --- pure helpers --------------------------------------------------------------------------------
def test_is_vfr_pure() -> None:
    cfr = [i / 30 for i in range(60)]
    assert not is_vfr(cfr, Fraction(30), Fraction(30))
    mkv_rounded = [round(i / 30, 3) for i in range(60)]  # 33/34 ms steps are still constant rate
    assert not is_vfr(mkv_rounded, None, None)
    dropped = [t for i, t in enumerate(cfr) if i % 7 != 3]
    assert is_vfr(dropped, None, None)
    assert is_vfr([], Fraction(24), Fraction(30))
    assert not is_vfr([], None, None)


@pytest.mark.parametrize(("degrees", "expected"), [(0, 0), (90, 90), (-90, 270), (180, 180), (-180, 180),
                                                   (270, 270), (89.6, 90), (360, 0)])
def test_normalise_rotation(degrees: float, expected: int) -> None:
    assert normalise_rotation(degrees) == expected


def test_display_size() -> None:
    assert display_size(1920, 1080, 0) == (1920, 1080)
    assert display_size(1920, 1080, 90) == (1080, 1920)
    assert display_size(1920, 1080, 270) == (1080, 1920)
    assert display_size(1920, 1080, 180) == (1920, 1080)


# --- the stage -----------------------------------------------------------------------------------
def test_probe_stage(media, tmp_path: Path) -> None:
    progress: list[float] = []
    inp = StageInput(asset_id=uuid.uuid4(), source_path=media.get("small_360p"), work_dir=tmp_path,
                     profile=get_profile("preview"), limits=LIMITS, progress=progress.append)
    result = probe_stage.run(inp)
    assert result.outputs == [] and result.renditions == []
    assert result.metadata["probe"]["width"] == 640
    assert progress[-1] == 1.0


def test_colour_the_stream_leaves_out_is_taken_from_its_first_picture(tmp_path) -> None:
    clip = tmp_path / "vp8.webm"  # VP8's decoder tags its pictures BT.601 limited range; the stream says nothing
    run_ffmpeg(["-f", "lavfi", "-i", "testsrc2=s=160x120:r=25:d=1", "-c:v", "libvpx", str(clip)])
    (video,) = probe_file(clip, LIMITS)["streams"]
    assert (video["color_matrix"], video["color_range"], video["color_primaries"]) == ("bt470bg", "tv", None)
    declared = {"color_primaries": "bt709", "color_transfer": None, "color_matrix": None, "hdr": False}
    picture = {"color_primaries": 5, "color_transfer": 16, "color_matrix": 2, "color_range": 2}
    assert with_picture_colour(declared, picture) == {  # what the stream declares wins; unspecified stays None
        "color_primaries": "bt709", "color_transfer": "smpte2084", "color_matrix": None, "color_range": "pc",
        "hdr": True, "hdr_format": "HDR10"}
