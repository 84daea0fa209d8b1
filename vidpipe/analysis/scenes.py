"""Shots/scenes: PySceneDetect's ContentDetector fed from our frame stream, plus a key frame per scene.

The detector only sees `(FrameTimecode, BGR array)`; it never opens the file. Cut frame numbers
map back to our own timestamps (so VFR sources keep true times). The key frame of a scene is the
best candidate (sampled ~4/s) by a score that is 0 for black or flat pictures and grows with
sharpness (variance of the Laplacian) and contrast. Memory stays bounded: candidates older than
the detector's possible reporting lag collapse into the best one of the open scene.
"""

from __future__ import annotations

import io
from fractions import Fraction
from typing import Any, ClassVar

import numpy as np
from PIL import Image

from vidpipe.analysis.base import AnalysisContext, AnalyzerOutput, FileOutput
from vidpipe.stages.base import Segment

_BLACK_MEAN = 24.0
_FLAT_STD = 6.0


def keyframe_score(rgb: np.ndarray) -> float:
    """0 for black/flat pictures; otherwise log sharpness (Laplacian variance) plus a contrast term."""
    gray = rgb[::2, ::2].astype(np.float32).mean(axis=2)
    mean, std = float(gray.mean()), float(gray.std())
    if mean < _BLACK_MEAN or std < _FLAT_STD:
        return 0.0
    lap = (4 * gray[1:-1, 1:-1] - gray[:-2, 1:-1] - gray[2:, 1:-1] - gray[1:-1, :-2] - gray[1:-1, 2:])
    return float(np.log1p(lap.var()) + min(std, 80.0) / 40.0)


def small_bgr(rgb: np.ndarray) -> np.ndarray:
    """Half-size BGR for the detector: cut scores are averages, so 4x fewer pixels barely change them."""
    return np.ascontiguousarray(rgb[::2, ::2, ::-1])


def keyframe_name(index: int) -> str:
    return f"analysis/scene-{index:03d}.jpg"


class SceneAnalyzer:
    name: ClassVar[str] = "scenes"

    def __init__(self, threshold: float = 27.0, min_scene_seconds: float = 0.5, candidates_per_second: float = 4.0,
                 detector: str = "content") -> None:
        from scenedetect.common import FrameTimecode
        from scenedetect.detectors import AdaptiveDetector, ContentDetector

        self._tc = FrameTimecode
        self._threshold, self._min_scene_seconds, self._detector_kind = threshold, min_scene_seconds, detector
        self._make = (lambda n: ContentDetector(threshold=threshold, min_scene_len=n)) if detector == "content" else (
            lambda n: AdaptiveDetector(min_scene_len=n))
        self._detector: Any = None
        self._fps = Fraction(30)
        self._per_second = candidates_per_second
        self._next_candidate = 0.0
        self._times: dict[int, float] = {}  # detector frame number -> our time (recent frames only)
        self._cuts: list[float] = []
        self._candidates: list[tuple[float, float, np.ndarray]] = []  # (t, score, rgb), open scene(s)
        self._closed: list[tuple[float, float, np.ndarray] | None] = []  # best key frame of each closed scene
        self._last_t = 0.0
        self._last_index = -1
        self._lag_seconds = 3.0

    def _start(self, t: float, index: int) -> None:
        self._fps = Fraction(30)  # a nominal rate: only frame numbers matter to the detector
        min_len = max(1, round(self._min_scene_seconds * float(self._fps)))
        self._detector = self._make(min_len)
        self._lag_seconds = max(3.0, 4 * self._min_scene_seconds)

    def on_frame(self, t: float, index: int, rgb: np.ndarray) -> None:
        if self._detector is None:
            self._start(t, index)
        self._times[index] = t
        self._last_t, self._last_index = t, index
        for cut in self._detector.process_frame(self._tc(index, self._fps), small_bgr(rgb)):
            self._cut_at(self._time_of(cut))
        if len(self._times) > 4096:  # keep only frames the detector may still report
            for k in [k for k in self._times if k < index - 2048]:
                del self._times[k]
        if t >= self._next_candidate:
            self._next_candidate = t + 1.0 / self._per_second
            self._candidates.append((t, keyframe_score(rgb), rgb.copy()))
            self._compact(t)

    def _time_of(self, cut: Any) -> float:
        n = cut.frame_num
        return self._times.get(n, float(n / self._fps))

    def _cut_at(self, t: float) -> None:
        before = [c for c in self._candidates if c[0] < t]
        self._candidates = [c for c in self._candidates if c[0] >= t]
        self._closed.append(max(before, key=lambda c: c[1]) if before else None)
        self._cuts.append(t)

    def _compact(self, now: float) -> None:
        old = [c for c in self._candidates if c[0] < now - self._lag_seconds]
        if len(old) > 1:
            best = max(old, key=lambda c: c[1])
            self._candidates = [best, *(c for c in self._candidates if c[0] >= now - self._lag_seconds)]

    def finish(self, ctx: AnalysisContext) -> AnalyzerOutput:
        if self._detector is None:
            return AnalyzerOutput(metrics={"scenes": 0})
        for cut in self._detector.post_process(self._tc(self._last_index, self._fps)) or []:
            self._cut_at(self._time_of(cut))
        self._closed.append(max(self._candidates, key=lambda c: c[1]) if self._candidates else None)
        end = max(ctx.duration, self._last_t)
        bounds = [0.0, *self._cuts, end]
        out = AnalyzerOutput(data={"keyframes": {}})
        for i, (start, stop) in enumerate(zip(bounds, bounds[1:], strict=False)):
            best = self._closed[i] if i < len(self._closed) else None
            seg = Segment(kind="scene", start=round(start, 3), end=round(stop, 3), detail={"index": i})
            if best is not None:
                key = keyframe_name(i + 1)
                seg.keyframe_key, seg.score = key, round(best[1], 3)
                seg.detail["keyframe_time"] = round(best[0], 3)
                buf = io.BytesIO()
                Image.fromarray(best[2]).save(buf, "JPEG", quality=85)
                out.outputs.append(FileOutput(key, buf.getvalue(), "scene_keyframe", "image/jpeg"))
                out.data["keyframes"][key] = best[2]
            out.segments.append(seg)
        out.metrics = {"scenes": len(out.segments), "cuts": [round(c, 3) for c in self._cuts],
                       "detector": self._detector_kind, "threshold": self._threshold}
        return out
