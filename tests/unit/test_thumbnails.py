"""The thumbnails stage: poster choice, sprite sheets and the WebVTT scrub track."""

from __future__ import annotations

import re
import uuid
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vidpipe.contract import StageInput
from vidpipe.errors import JobCancelledError
from vidpipe.ffmpeg.frames import display_dimensions
from vidpipe.profiles import get_profile
from vidpipe.settings import Limits
from vidpipe.stages import thumbnails as th

PREVIEW = get_profile("preview")
_STAMP = r"(\d\d:\d\d:\d\d\.\d\d\d)"
CUE = re.compile(rf"^{_STAMP} --> {_STAMP}\n(sprite-\d{{3}}\.jpg)#xywh=(\d+),(\d+),(\d+),(\d+)$", re.M)


def _run(path: Path, work: Path, profile=PREVIEW, **kwargs):
    inp = StageInput(asset_id=uuid.uuid4(), source_path=path, work_dir=work, profile=profile, limits=Limits(),
                     **kwargs)
    return th.run(inp)


def _seconds(stamp: str) -> float:
    h, m, s = stamp.split(":")
    return int(h) * 3600 + int(m) * 60 + float(s)


def _cues(vtt: str) -> list[tuple[float, float, str, int, int, int, int]]:
    return [(_seconds(a), _seconds(b), sheet, int(x), int(y), int(w), int(h))
            for a, b, sheet, x, y, w, h in CUE.findall(vtt)]


# --- pure core ---------------------------------------------------------------------------------
def test_frame_score_rejects_black_white_and_flat() -> None:
    rng = np.random.default_rng(1)
    assert th.frame_score(np.zeros((54, 96), np.uint8)) == 0.0
    assert th.frame_score(np.full((54, 96), 12, np.uint8)) == 0.0  # near-black with noise-free content
    assert th.frame_score(np.full((54, 96), 250, np.uint8)) == 0.0
    assert th.frame_score(np.full((54, 96), 128, np.uint8)) == 0.0  # flat grey
    busy = rng.integers(0, 256, (54, 96), dtype=np.uint8)
    gradient = np.tile(np.linspace(40, 200, 96, dtype=np.uint8), (54, 1))
    assert th.frame_score(busy) > th.frame_score(gradient) > 0


def test_choose_poster_prefers_non_black_and_the_early_middle() -> None:
    assert th.choose_poster([(1.0, 0.0), (5.0, 0.0), (8.0, 1.0)], 10.0) == 2
    # equal scores: the one 10-30 % in wins
    assert th.choose_poster([(0.5, 1.0), (2.0, 1.0), (6.0, 1.0)], 10.0) == 1
    # a clearly better frame still wins outside the preferred span
    assert th.choose_poster([(2.0, 1.0), (6.0, 2.0)], 10.0) == 1
    # all black: still a choice
    assert th.choose_poster([(1.0, 0.0), (2.0, 0.0)], 10.0) in (0, 1)
    with pytest.raises(ValueError):
        th.choose_poster([], 10.0)


def test_sprite_times() -> None:
    assert th.sprite_times(60.0, 10.0) == [0, 10, 20, 30, 40, 50]
    assert th.sprite_times(61.0, 10.0) == [0, 10, 20, 30, 40, 50, 60]
    assert th.sprite_times(3.0, 10.0) == [0]
    assert th.sprite_times(0.5, 2.0) == [0]
    assert th.sprite_times(6.021, 2.0) == [0, 2, 4]  # container rounding does not add a 21 ms tile


def test_sprite_interval_follows_the_length() -> None:
    # Short videos: a tile at least every 2 s whatever the profile says (a cut is never more than 2 s away).
    assert th.sprite_interval(60.0, 10.0) == 2.0
    assert th.sprite_interval(60.0, 1.0) == 1.0  # a denser profile stays denser
    # Long videos: the tile count is capped, the interval grows with the length.
    assert th.sprite_interval(600.0, 10.0) == 2.0
    assert th.sprite_interval(3600.0, 10.0) == 12.0
    assert len(th.sprite_times(6 * 3600.0, th.sprite_interval(6 * 3600.0, 10.0))) == th.MAX_SPRITE_TILES
    for duration in (1.0, 13.0, 60.0, 599.0):
        times = th.sprite_times(duration, th.sprite_interval(duration, 10.0))
        assert all(b - a <= 2.0 for a, b in zip(times, [*times[1:], duration], strict=True)), duration


def test_sheet_layout_and_sheets() -> None:
    layout = th.sheet_layout(13, 3, 2)
    assert layout[:7] == [(0, 0, 0), (0, 1, 0), (0, 2, 0), (0, 0, 1), (0, 1, 1), (0, 2, 1), (1, 0, 0)]
    assert layout[-1] == (2, 0, 0)
    tiles = [Image.new("RGB", (160, 90), (i * 10, 0, 0)) for i in range(13)]
    sheets = th.build_sheets(tiles, 3, 2)
    assert [s.size for s in sheets] == [(480, 180), (480, 180), (160, 90)]
    assert sheets[0].getpixel((160 + 5, 90 + 5)) == (40, 0, 0)  # tile 4 at column 1, row 1
    assert th.build_sheets([], 3, 2) == []


def test_vtt() -> None:
    vtt = th.sprite_vtt([0, 10, 20, 30], 35.5, 160, 90, 2, 1)
    assert vtt.startswith("WEBVTT\n\n")
    assert _cues(vtt) == [(0, 10, "sprite-000.jpg", 0, 0, 160, 90), (10, 20, "sprite-000.jpg", 160, 0, 160, 90),
                          (20, 30, "sprite-001.jpg", 0, 0, 160, 90), (30, 35.5, "sprite-001.jpg", 160, 0, 160, 90)]
    assert th.vtt_timestamp(3723.4567) == "01:02:03.457"


def test_group_by_keyframe() -> None:
    assert th.group_by_keyframe([0, 2, 4, 5], [0.0, 4.0]) == {0.0: [0, 1], 4.0: [2, 3]}
    assert th.group_by_keyframe([1, 3], []) == {1: [0], 3: [1]}


def test_display_dimensions_keep_aspect_and_rotation() -> None:
    assert display_dimensions(1920, 1080, 1.0, 0, 160) == (160, 90)
    assert display_dimensions(1280, 720, 1.0, 90, 160) == (160, 284)
    assert display_dimensions(720, 576, 16 / 15, 0, 160) == (160, 120)  # anamorphic PAL 4:3


# --- the stage on real media ---------------------------------------------------------------------
def test_1080p_standard_profile(media, tmp_path: Path) -> None:
    progress: list[float] = []
    result = _run(media.get("h264_1080p"), tmp_path, get_profile("standard"), progress=progress.append)
    kinds = {o.key: o.kind for o in result.outputs}
    assert kinds == {"thumbs/poster.jpg": "poster", "thumbs/sprite-000.jpg": "sprite",
                     "thumbs/sprites.vtt": "sprite_vtt"}
    for out in result.outputs:
        assert out.path.is_file() and out.path.is_relative_to(tmp_path)
    with Image.open(tmp_path / "thumbs" / "poster.jpg") as poster:
        assert poster.size == (1280, 720)
    with Image.open(tmp_path / "thumbs" / "sprite-000.jpg") as sheet:
        assert sheet.size == (320, 90)  # 4 s: a tile every 2 s (the profile's 10 s is too coarse for a short clip)
    cues = _cues((tmp_path / "thumbs" / "sprites.vtt").read_text())
    assert cues == [(0.0, 2.0, "sprite-000.jpg", 0, 0, 160, 90), (2.0, 4.0, "sprite-000.jpg", 160, 0, 160, 90)]
    assert progress == sorted(progress) and progress[-1] == 1.0


def test_dense_sprites_over_several_sheets(media, tmp_path: Path) -> None:
    profile = replace(PREVIEW, sprite_interval_seconds=0.5, sprite_columns=5, sprite_rows=2, sprite_tile_width=120)
    result = _run(media.get("h264_720p"), tmp_path, profile)  # 6 s -> 12 tiles -> sheets of 10 and 2
    sheets = sorted(o.path for o in result.outputs if o.kind == "sprite")
    assert [p.name for p in sheets] == ["sprite-000.jpg", "sprite-001.jpg"]
    with Image.open(sheets[0]) as a, Image.open(sheets[1]) as b:
        assert a.size == (600, 136) and b.size == (240, 68)
    cues = _cues((tmp_path / "thumbs" / "sprites.vtt").read_text())
    assert len(cues) == 12
    assert [c[0] for c in cues] == [i * 0.5 for i in range(12)]
    assert cues[-1][1] == pytest.approx(6.0, abs=0.05)
    assert cues[7][2:] == ("sprite-000.jpg", 240, 68, 120, 68)
    assert cues[11][2:] == ("sprite-001.jpg", 120, 0, 120, 68)
    for start, end, *_ in cues:
        assert end > start


def test_poster_avoids_black_opening(media, tmp_path: Path) -> None:
    _run(media.get("black_start"), tmp_path)  # 3 s of black, then 3 s of test pattern
    with Image.open(tmp_path / "thumbs" / "poster.jpg") as poster:
        luma = np.asarray(poster.convert("L"), dtype=np.float32)
    assert luma.mean() > 60 and luma.std() > 20
    # the first tile is the black opening: sprites show the timeline as it is
    with Image.open(tmp_path / "thumbs" / "sprite-000.jpg") as sheet:
        first = np.asarray(sheet.convert("L").crop((0, 0, 160, 90)), dtype=np.float32)
    assert first.mean() < 20


def test_rotated_portrait_gives_portrait_images(media, tmp_path: Path) -> None:
    result = _run(media.get("portrait_rot90"), tmp_path)
    assert result.metadata["thumbnails"]["tile"] == {"width": 160, "height": 284}
    with Image.open(tmp_path / "thumbs" / "poster.jpg") as poster:
        assert poster.size == (360, 640)
    with Image.open(tmp_path / "thumbs" / "sprite-000.jpg") as sheet:
        assert sheet.size == (320, 284)  # 3 s at 2 s intervals: two portrait tiles
    assert "#xywh=160,0,160,284" in (tmp_path / "thumbs" / "sprites.vtt").read_text()


def test_long_gop_still_gives_a_tile_per_interval(media, tmp_path: Path) -> None:
    # One key frame for the whole 6 s clip: every tile is that key frame, decoded once.
    _run(media.get("long_gop"), tmp_path)
    cues = _cues((tmp_path / "thumbs" / "sprites.vtt").read_text())
    assert [c[0] for c in cues] == [0, 2, 4]
    with Image.open(tmp_path / "thumbs" / "sprite-000.jpg") as sheet:
        assert sheet.size == (480, 90)
        tiles = [np.asarray(sheet.crop((x, 0, x + 160, 90)), dtype=np.int16) for x in (0, 160, 320)]
    assert np.abs(tiles[0] - tiles[2]).mean() < 3


def test_mpegts_without_index_still_samples_each_interval(media, tmp_path: Path) -> None:
    # MPEG-TS has no index and starts at 1.4 s; seeking may land on the next key frame, which the reader corrects.
    _run(media.get("mpegts"), tmp_path)
    cues = _cues((tmp_path / "thumbs" / "sprites.vtt").read_text())
    assert [c[0] for c in cues] == [0, 2, 4]
    with Image.open(tmp_path / "thumbs" / "sprite-000.jpg") as sheet:
        tiles = [np.asarray(sheet.crop((x, 0, x + 160, 90)).convert("L"), dtype=np.int16) for x in (0, 160, 320)]
    # scenes change every 2 s, so the three tiles differ
    assert np.abs(tiles[0] - tiles[1]).mean() > 10 and np.abs(tiles[1] - tiles[2]).mean() > 10


@pytest.mark.parametrize("name", ["vfr", "multi_audio_mkv", "no_audio"])
def test_other_video_samples(media, tmp_path: Path, name: str) -> None:
    result = _run(media.get(name), tmp_path)
    assert {o.kind for o in result.outputs} == {"poster", "sprite", "sprite_vtt"}


@pytest.mark.parametrize("name", ["mp3", "wav", "flac"])
def test_audio_only_gives_nothing(media, tmp_path: Path, name: str) -> None:
    result = _run(media.get(name), tmp_path)
    assert result.outputs == [] and result.metadata == {}


def test_uses_the_probe_it_is_given(media, tmp_path: Path) -> None:
    from vidpipe.ffmpeg.probe import probe_file

    probe = probe_file(media.get("small_360p"), Limits())
    result = _run(media.get("small_360p"), tmp_path, probe=probe)
    assert result.metadata["thumbnails"]["poster"] == {"width": 640, "height": 360}


def test_should_stop_cancels(media, tmp_path: Path) -> None:
    with pytest.raises(JobCancelledError):
        _run(media.get("small_360p"), tmp_path, should_stop=lambda: True)
