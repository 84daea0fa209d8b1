"""The shared per-frame picture: luma straight from the decoder, RGB only for frames an analyzer asks for."""

from __future__ import annotations

import av
import numpy as np
import pytest
from av.video.reformatter import VideoReformatter

from vidpipe.analysis import registry
from vidpipe.analysis.base import AnalysisContext
from vidpipe.analysis.black import is_black
from vidpipe.analysis.cuts import thumbnail
from vidpipe.analysis.picture import Picture, rgb_luma
from vidpipe.analysis.pipeline import run_pass
from vidpipe.ffmpeg.probe import probe_file
from vidpipe.settings import Limits


def _picture(rgb: np.ndarray, fmt: str) -> Picture:
    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format=fmt)
    h, w = rgb.shape[:2]
    reformatter = VideoReformatter()

    def reformat(f, out):
        return reformatter.reformat(f, width=w, height=h, format=out)

    return Picture.from_frame(frame, (w, h), 0, reformat, reformat)


@pytest.mark.parametrize("fmt", ["yuv420p", "yuvj420p", "rgb24"])
def test_luma_from_the_decoder_matches_luma_from_rgb(fmt):
    rng = np.random.default_rng(3)
    rgb = np.repeat(np.repeat(rng.integers(0, 256, (18, 32, 3), np.uint8), 10, axis=0), 10, axis=1)
    rgb[:40] = 0  # a black band, and a white one: the range ends must map to 0 and 255
    rgb[-40:] = 255
    picture = _picture(rgb, fmt)
    expected = rgb_luma(rgb).astype(int)
    assert np.abs(picture.luma.astype(int) - expected).mean() < 2.5
    assert picture.luma[:40].max() <= 3 and picture.luma[-40:].min() >= 252
    # the per-frame shortcuts (decoded values, converted afterwards) agree with the full-range luma
    assert np.abs(picture.stretch(thumbnail(picture.small_raw), unit=1.0) - thumbnail(picture.small)).max() < 0.01
    assert picture.raw_level(0) <= picture.small_raw[:10].min() + 1
    assert picture.rgb().shape == rgb.shape


def test_black_rule_on_decoded_limited_range_video():
    dark = np.full((180, 320, 3), 12, np.uint8)  # 12/255: under the 10 % black threshold
    grey = np.full((180, 320, 3), 40, np.uint8)  # 40/255: over it
    from vidpipe.analysis.black import BlackAnalyzer

    for rgb, expected in ((dark, True), (grey, False)):
        a = BlackAnalyzer()
        a.on_picture(0.0, 0, _picture(rgb, "yuv420p"))  # limited range: the black level is 16, not 0
        assert is_black(rgb) is expected
        segments = a.finish(AnalysisContext(duration=1.0, has_video=True, has_audio=False, probe={})).segments
        assert [(s.start, s.end) for s in segments] == ([(0.0, 1.0)] if expected else [])


def test_pass_converts_only_key_frame_candidates_to_rgb(media):
    """Scenes, black and fingerprints read luma: RGB is made only for the scene key-frame candidates (4/s)."""
    path = media.get("black_middle")  # 25 fps
    result = run_pass(path, probe_file(path, Limits()), registry.build(["scenes", "black", "fingerprints"]))
    stats = result.stats
    seconds = stats.video_frames / 25
    assert stats.video_frames >= 50
    assert 0 < stats.rgb_frames <= 4 * seconds + 2 < stats.video_frames
    assert [s.kind for s in result.analysis.segments_of("black")] == ["black"]
    key = result.analysis.segments_of("scene")[0].keyframe_key
    assert result.analysis.keyframes[key].ndim == 3


def test_an_analyzer_without_on_picture_still_gets_rgb(media):
    seen = []

    class Recorder:
        name = "recorder"

        def on_frame(self, t, index, rgb):
            seen.append(rgb.shape)

        def finish(self, ctx):
            from vidpipe.analysis.base import AnalyzerOutput

            return AnalyzerOutput()

    path = media.get("black_middle")
    selection = registry.build(["black"])
    selection.video.append(Recorder())
    result = run_pass(path, probe_file(path, Limits()), selection)
    assert len(seen) == result.stats.video_frames and all(len(s) == 3 and s[2] == 3 for s in seen)
    assert result.stats.rgb_frames == result.stats.video_frames


def test_a_fade_between_pictures_of_unequal_brightness_is_found():
    """The frame half-way between a bright and a dim picture is not the dark one: the fade still counts."""
    from vidpipe.analysis.cuts import detect

    rng = np.random.default_rng(4)
    bright, dim = rng.uniform(0.55, 1.0, 336).astype(np.float32), rng.uniform(0.0, 0.3, 336).astype(np.float32)
    frames = [bright] * 60 + [bright * (1 - (k + 1) / 20) for k in range(20)]
    frames += [dim * (k / 3) for k in range(3)] + [dim] * 60
    found = detect(np.stack(frames), 25.0)
    assert [kind for _, kind in found] == ["gradual"] and 60 <= found[0][0] <= 83
