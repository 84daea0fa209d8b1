"""Black stretches: frames whose pixels are nearly all dark (FFmpeg blackdetect's rule), merged into segments."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from vidpipe.analysis.base import AnalysisContext, AnalyzerOutput
from vidpipe.analysis.picture import Picture
from vidpipe.contract import Segment


def is_black(rgb: np.ndarray, pixel_threshold: float = 0.10, ratio: float = 0.98) -> bool:
    """True when >= `ratio` of the (subsampled) pixels have luma below `pixel_threshold` of full scale."""
    small = rgb[::4, ::4].astype(np.uint16)
    luma = (small[..., 0] * 77 + small[..., 1] * 150 + small[..., 2] * 29) >> 8
    return float((luma < pixel_threshold * 255).mean()) >= ratio


def is_black_luma(small: np.ndarray, pixel_threshold: float = 0.10, ratio: float = 0.98) -> bool:
    """`is_black` on an already subsampled full-range luma picture (Picture.small)."""
    return float(np.count_nonzero(small < pixel_threshold * 255)) >= ratio * small.size


def runs_to_segments(flags: list[tuple[float, bool]], end: float, min_seconds: float, kind: str) -> list[Segment]:
    """Turn (time, flag) samples into segments where the flag holds for at least `min_seconds`."""
    segments: list[Segment] = []
    start: float | None = None
    for t, flag in flags:
        if flag and start is None:
            start = t
        elif not flag and start is not None:
            if t - start >= min_seconds:
                segments.append(Segment(kind=kind, start=round(start, 3), end=round(t, 3)))
            start = None
    if start is not None and end - start >= min_seconds:
        segments.append(Segment(kind=kind, start=round(start, 3), end=round(end, 3)))
    return segments


class BlackAnalyzer:
    name: ClassVar[str] = "black"
    _BATCH = 32  # frames tested in one numpy call: per frame, the call overhead was most of the cost

    def __init__(self, min_seconds: float = 0.5, pixel_threshold: float = 0.10, ratio: float = 0.98) -> None:
        self._min, self._pix, self._ratio = min_seconds, pixel_threshold, ratio
        self._flags: list[tuple[float, bool]] = []
        self._last = 0.0
        self._step = 0.0
        self._pending: list[tuple[float, np.ndarray]] = []  # (t, small luma as decoded) not yet tested
        self._pending_level = -1.0  # the threshold in the pending frames' units (their range)

    def on_frame(self, t: float, index: int, rgb: np.ndarray) -> None:
        self.on_picture(t, index, Picture.from_rgb(rgb))

    def on_picture(self, t: float, index: int, picture: Picture) -> None:
        if self._pending or self._flags:
            self._step = t - self._last
        self._last = t
        level = picture.raw_level(self._pix * 255)  # decoded values: the threshold moves to their range
        small = picture.small_raw
        if self._pending and (level != self._pending_level or self._pending[0][1].shape != small.shape):
            self._flush()
        self._pending.append((t, small))
        self._pending_level = level
        if len(self._pending) >= self._BATCH:
            self._flush()

    def _flush(self) -> None:
        smalls = np.stack([small for _, small in self._pending])
        dark = np.count_nonzero((smalls < self._pending_level).reshape(len(smalls), -1), axis=1)
        for (t, _), count in zip(self._pending, dark.tolist(), strict=True):
            flag = count >= self._ratio * smalls[0].size
            if not self._flags or self._flags[-1][1] != flag:  # keep only transitions
                self._flags.append((t, flag))
        self._pending.clear()

    def finish(self, ctx: AnalysisContext) -> AnalyzerOutput:
        if self._pending:
            self._flush()
        end = max(ctx.duration, self._last + self._step)
        segments = runs_to_segments(self._flags, end, self._min, "black")
        return AnalyzerOutput(segments=segments, metrics={"segments": len(segments),
                                                          "seconds": round(sum(s.end - s.start for s in segments), 3)})
