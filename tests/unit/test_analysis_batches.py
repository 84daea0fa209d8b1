"""The video analyzers' results do not depend on how the pass groups frames: at 1080p its batches are single
frames, on small clips up to 16. Frames go through the pass's own per-batch call (`_pictures_handler`)."""

from __future__ import annotations

from typing import Any

import av
import numpy as np
import pytest
from av.video.reformatter import VideoReformatter

from vidpipe.analysis.base import AnalysisContext, AnalyzerOutput
from vidpipe.analysis.black import BlackAnalyzer
from vidpipe.analysis.picture import Picture
from vidpipe.analysis.pipeline import _pictures_handler
from vidpipe.analysis.scenes import SceneAnalyzer

FPS, W, H = 25, 320, 180


def _pattern(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.repeat(np.repeat(rng.integers(40, 256, (18, 32, 3), np.uint8), 10, axis=0), 10, axis=1)


def _script() -> list[tuple[np.ndarray, str]]:
    """19.8 s at 25 fps (more than the cut detector's 14 s block): a scene, black, a scene with motion, a hard cut,
    a dissolve, the same picture in limited then in full range (yuvj420p: not a cut, if each frame's range is
    honoured), a hard cut in full range, one back to limited range, black to the end."""
    a, b, c, d, e, f = (_pattern(seed) for seed in range(6))
    black = (np.full((H, W, 3), 12, np.uint8), "yuv420p")
    frames = [(a, "yuv420p")] * 50 + [black] * 25
    frames += [(np.roll(b, 2 * k, axis=1), "yuv420p") for k in range(75)] + [(c, "yuv420p")] * 75
    frames += [((c * (1 - k / 25) + d * (k / 25)).astype(np.uint8), "yuv420p") for k in range(25)]
    frames += [(d, "yuv420p")] * 50 + [(d, "yuvj420p")] * 50 + [(e, "yuvj420p")] * 50
    frames += [(f, "yuv420p")] * 75 + [black] * 20
    return frames


def _pictures() -> list[tuple[float, int, Picture]]:
    reformatter = VideoReformatter()

    def reformat(frame: Any, fmt: str) -> Any:
        return reformatter.reformat(frame, width=W, height=H, format=fmt)

    out = []
    for i, (rgb, fmt) in enumerate(_script()):
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format=fmt)
        out.append((i / FPS, i, Picture.from_frame(frame, (W, H), 0, reformat, reformat)))
    return out


def _run(analyzer: Any, size: int) -> AnalyzerOutput:
    # No duration (as when the container has none): the last frame's interval ends the black tail.
    ctx = AnalysisContext(duration=0.0, has_video=True, has_audio=False, fps=FPS, width=W, height=H, probe={})
    if hasattr(analyzer, "start"):
        analyzer.start(ctx)
    handle, pictures = _pictures_handler(analyzer), _pictures()
    for k in range(0, len(pictures), size):
        handle(pictures[k:k + size])
    return analyzer.finish(ctx)


def _summary(out: AnalyzerOutput) -> tuple:
    """Everything an analyzer reports, in comparable form (key frames as bytes)."""
    segments = [(s.kind, s.start, s.end, s.score, s.keyframe_key, s.detail) for s in out.segments]
    files = [(o.key, o.data) for o in out.outputs]
    keyframes = {k: v.tobytes() for k, v in out.data.get("keyframes", {}).items()}
    return segments, out.metrics, files, keyframes


@pytest.mark.parametrize("make", [BlackAnalyzer, SceneAnalyzer])
def test_results_do_not_depend_on_the_batching(make):
    one = _summary(_run(make(), 1))  # what a 1080p pass feeds: a frame per call
    for size in (3, 16, 500):
        assert _summary(_run(make(), size)) == one, size


def test_what_the_batched_analyzers_find():
    black = _run(BlackAnalyzer(), 16)
    assert [(s.start, s.end) for s in black.segments] == [(2.0, 3.0), (19.0, 19.8)]
    scenes = _run(SceneAnalyzer(), 16)
    assert scenes.metrics["cuts"] == [2.0, 3.0, 6.0, 9.52, 14.0, 16.0, 19.0]
    assert scenes.metrics["transitions"] == ["hard", "hard", "hard", "gradual", "hard", "hard", "hard"]
    assert [s.detail["keyframe_time"] for s in scenes.segments] == [0.0, 2.24, 3.08, 6.16, 10.08, 14.0, 16.24,
                                                                    19.04]
    assert [s.score > 1.0 for s in scenes.segments] == [True, False, True, True, True, True, True, False]  # black: 0
