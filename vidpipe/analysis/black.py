"""Black stretches: frames whose pixels are nearly all dark (FFmpeg blackdetect's rule), merged into segments."""

from __future__ import annotations

from itertools import groupby
from typing import ClassVar

import numpy as np

from vidpipe.analysis.base import AnalysisContext, AnalyzerOutput, PictureBatch
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

    def __init__(self, min_seconds: float = 0.5, pixel_threshold: float = 0.10, ratio: float = 0.98) -> None:
        self._min, self._pix, self._ratio = min_seconds, pixel_threshold, ratio
        self._flags: list[tuple[float, bool]] = []
        self._last: float | None = None  # time of the latest frame
        self._step = 0.0  # the latest frame interval: the last frame lasts this long

    def on_frame(self, t: float, index: int, rgb: np.ndarray) -> None:
        self.on_pictures([(t, index, Picture.from_rgb(rgb))])

    def on_picture(self, t: float, index: int, picture: Picture) -> None:  # for callers with one frame at a time
        self.on_pictures([(t, index, picture)])

    def on_pictures(self, batch: PictureBatch) -> None:
        """Tests the batch's frames in one numpy call per run of equal black level and size: on small frames the
        call overhead was most of the cost per frame (the pass's batches of one, at 1080p, cost far more to decode
        than the call). The decoded values are compared: the threshold moves to their range."""
        times = [t for t, _, _ in batch]
        if len(times) > 1:
            self._step = times[-1] - times[-2]
        elif self._last is not None:  # a batch of one (1080p): the interval spans the previous batch
            self._step = times[0] - self._last
        self._last = times[-1]
        for (level, _), run in groupby(batch, key=lambda item: self._level_and_shape(item[2])):
            self._test([(t, picture.small_raw) for t, _, picture in run], level)

    def _level_and_shape(self, picture: Picture) -> tuple[float, tuple[int, ...]]:
        """The threshold in the picture's decoded values (its range) and the size: frames that share both are
        tested in one call."""
        return picture.raw_level(self._pix * 255), picture.small_raw.shape

    def _test(self, smalls: list[tuple[float, np.ndarray]], level: float) -> None:
        stack = np.stack([small for _, small in smalls])
        dark = np.count_nonzero((stack < level).reshape(len(stack), -1), axis=1)
        for (t, _), count in zip(smalls, dark.tolist(), strict=True):
            flag = count >= self._ratio * stack[0].size
            if not self._flags or self._flags[-1][1] != flag:  # keep only transitions
                self._flags.append((t, flag))

    def finish(self, ctx: AnalysisContext) -> AnalyzerOutput:
        end = max(ctx.duration, (self._last or 0.0) + self._step)
        segments = runs_to_segments(self._flags, end, self._min, "black")
        return AnalyzerOutput(segments=segments, metrics={"segments": len(segments),
                                                          "seconds": round(sum(s.end - s.start for s in segments), 3)})
