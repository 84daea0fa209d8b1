"""Shots/scenes: our own detector (vidpipe.analysis.cuts: adaptive hard cuts, flash suppression, dissolves and
fades) fed from the shared frame stream, plus a key frame per scene.

Cuts are found in blocks with a few seconds of look-ahead, so memory stays bounded: only the recent
thumbnails (24x14 luma) and the key-frame candidates of the open scene(s) are kept. Cut frame numbers
map back to our own timestamps (VFR sources keep true times). The key frame of a scene is the best
candidate (sampled ~4/s) by a score that is 0 for black or flat pictures and grows with sharpness
(variance of the Laplacian) and contrast.
"""

from __future__ import annotations

import io
from dataclasses import replace
from itertools import groupby
from typing import ClassVar

import numpy as np
from PIL import Image

from vidpipe.analysis.base import AnalysisContext, AnalyzerOutput, FileOutput, PictureBatch
from vidpipe.analysis.cuts import CutParams, detect, thumbnail, thumbnails
from vidpipe.analysis.picture import Picture, limited_to_full
from vidpipe.contract import Segment

_BLACK_MEAN = 24.0
_FLAT_STD = 6.0
_LOOKAHEAD_SECONDS = 4.0  # > 3 x the largest gradual scale + flash span: cuts older than this are final
_BLOCK_SECONDS = 10.0
# Key-frame candidates older than this collapse into their best: no cut still to be reported is that old
# (the detector reports up to _LOOKAHEAD_SECONDS late, once per _BLOCK_SECONDS), with 2 s to spare.
_CANDIDATE_LAG_SECONDS = _LOOKAHEAD_SECONDS + _BLOCK_SECONDS + 2.0


def keyframe_score(picture: np.ndarray) -> float:
    """0 for black/flat pictures; otherwise log sharpness (Laplacian variance) plus a contrast term.
    `picture`: RGB (H, W, 3) or luma (H, W), uint8."""
    half = picture[::2, ::2].astype(np.float32)
    return keyframe_score_gray(half.mean(axis=2) if half.ndim == 3 else half)


def keyframe_score_gray(gray: np.ndarray) -> float:
    """keyframe_score of a float32 grey picture (0-255) already halved in each direction."""
    mean, std = _mean_std(gray)
    if mean < _BLACK_MEAN or std < _FLAT_STD:
        return 0.0
    lap = (4 * gray[1:-1, 1:-1] - gray[:-2, 1:-1] - gray[2:, 1:-1] - gray[1:-1, :-2] - gray[1:-1, 2:])
    return float(np.log1p(_mean_std(lap)[1] ** 2) + min(std, 80.0) / 40.0)


def _mean_std(x: np.ndarray) -> tuple[float, float]:
    """Mean and standard deviation in two reductions (a sum and a dot product, both in float64), where
    ndarray.std makes four passes and a temporary of the picture's size."""
    flat = x.reshape(-1).astype(np.float64)
    n = flat.size
    mean = float(flat.sum()) / n
    # einsum, not `@`: a BLAS dot of this size may wake its thread pool, which costs more than the sum itself
    return mean, float(np.sqrt(max(0.0, float(np.einsum("i,i", flat, flat)) / n - mean * mean)))


def keyframe_name(index: int) -> str:
    return f"analysis/scene-{index:03d}.jpg"


class CutStream:
    """Runs `cuts.detect` over a sliding buffer of thumbnails; reports each cut once, `lookahead` s late."""

    def __init__(self, params: CutParams, fps: float) -> None:
        self.params, self.fps = params, fps
        self._thumbs: list[np.ndarray] = []
        self._times: list[float] = []
        self._final_until = -1.0  # cuts at or before this time are reported
        self._last_cut = -1e9

    def push(self, t: float, small_luma: np.ndarray) -> list[tuple[float, str]]:
        """`small_luma`: 4x4 subsampled luma (>= 3x3 samples per thumbnail block)."""
        return self.push_thumbnail(t, thumbnail(small_luma))

    def push_thumbnail(self, t: float, thumb: np.ndarray) -> list[tuple[float, str]]:
        self._thumbs.append(thumb)
        self._times.append(t)
        if t - max(self._final_until, self._times[0]) < _BLOCK_SECONDS + _LOOKAHEAD_SECONDS:
            return []
        return self._run(final=False)

    def finish(self) -> list[tuple[float, str]]:
        return self._run(final=True)

    def _run(self, final: bool) -> list[tuple[float, str]]:
        if not self._times:
            return []
        until = self._times[-1] + 1.0 if final else self._times[-1] - _LOOKAHEAD_SECONDS
        found = []
        for i, kind in detect(np.stack(self._thumbs), self.fps, self.params):
            t = self._times[i]
            if self._final_until < t <= until and t - self._last_cut >= self.params.min_scene_seconds:
                found.append((t, kind))
                self._last_cut = t
        self._final_until = until
        keep_from = next((k for k, t in enumerate(self._times) if t >= until - _LOOKAHEAD_SECONDS), 0)
        del self._thumbs[:keep_from], self._times[:keep_from]
        return found


class SceneAnalyzer:
    name: ClassVar[str] = "scenes"

    def __init__(self, threshold: float = 12.0, min_scene_seconds: float = 0.5, candidates_per_second: float = 4.0,
                 detector: str = "adaptive", ratio: float = 3.0, gradual: bool = True,
                 flash_seconds: float = 0.35) -> None:
        if detector not in ("adaptive", "hard"):
            raise ValueError(f"unknown scene detector {detector!r}: adaptive (cuts + dissolves/fades) or hard")
        # threshold: the least mean luma change (0-255) of a hard cut; ratio: against its neighbours' change.
        self._params = CutParams(ratio=ratio, min_diff=threshold / 255, min_scene_seconds=min_scene_seconds,
                                 gradual=gradual and detector == "adaptive", flash_seconds=flash_seconds)
        self._threshold, self._detector_kind = threshold, detector
        self._stream: CutStream | None = None
        self._per_second = candidates_per_second
        self._next_candidate = 0.0
        self._cuts: list[float] = []
        self._kinds: list[str] = []
        # (t, score, rgb or a small Picture converted when it wins), open scene(s)
        self._candidates: list[tuple[float, float, np.ndarray | Picture]] = []
        self._closed: list[tuple[float, float, np.ndarray | Picture] | None] = []  # best of each closed scene
        self._last_t = 0.0

    def start(self, ctx: AnalysisContext) -> None:
        self._fps = float(ctx.fps or 30.0)

    def on_frame(self, t: float, index: int, rgb: np.ndarray) -> None:
        self.on_pictures([(t, index, Picture.from_rgb(rgb))])

    def on_picture(self, t: float, index: int, picture: Picture) -> None:  # for callers with one frame at a time
        self.on_pictures([(t, index, picture)])

    def on_pictures(self, batch: PictureBatch) -> None:
        """Each frame's thumbnail into the cut detector, then its key-frame candidacy, in stream order (a cut
        splits the candidates by time)."""
        stream = self._cut_stream()
        self._last_t = batch[-1][0]
        for (t, _, picture), thumb in zip(batch, self._thumbnails(batch), strict=True):
            for cut, kind in stream.push_thumbnail(t, thumb):
                self._cut_at(cut, kind)
            self._candidate(t, picture)

    def _cut_stream(self) -> CutStream:
        if self._stream is None:  # made on the first frame: start(ctx), when called, has set the frame rate
            fps = getattr(self, "_fps", 30.0) or 30.0
            self._stream = CutStream(replace(self._params), fps)
        return self._stream

    @staticmethod
    def _thumbnails(batch: PictureBatch) -> list[np.ndarray]:
        """Thumbnails (block means) of the batch's frames, one numpy call per run of frames of the same range: on
        small frames the calls' overhead was most of the cost per frame. Made from the decoded luma (every 4th row
        and column); limited range (16-235) is stretched to full range on the block means only."""
        out: list[np.ndarray] = []
        for full, run in groupby(batch, key=lambda item: item[2].full_range):
            thumbs = thumbnails(np.stack([picture.small_raw for _, _, picture in run]))
            out.extend(thumbs if full else limited_to_full(thumbs, unit=1.0))
        return out

    def _candidate(self, t: float, picture: Picture) -> None:
        """A key-frame candidate every 1 / candidates_per_second."""
        if t < self._next_candidate:
            return
        self._next_candidate = t + 1.0 / self._per_second
        # The only RGB this analyzer needs. A small decoded frame (already at the analysis size) is kept as it is
        # and converted only if it wins its scene; a large one is converted now (keeping it would hold megabytes
        # per candidate).
        keep = picture if picture.direct else (picture.rgb() if picture.owns_rgb else picture.rgb().copy())
        self._candidates.append((t, keyframe_score_gray(picture.luma_half()), keep))
        self._compact(t)

    def _cut_at(self, t: float, kind: str) -> None:
        before = [c for c in self._candidates if c[0] < t]
        self._candidates = [c for c in self._candidates if c[0] >= t]
        self._closed.append(max(before, key=lambda c: c[1]) if before else None)
        self._cuts.append(t)
        self._kinds.append(kind)

    def _compact(self, now: float) -> None:
        """Candidates older than any cut still to be reported collapse into the best one (bounded memory)."""
        old = [c for c in self._candidates if c[0] < now - _CANDIDATE_LAG_SECONDS]
        if len(old) > 1:
            best = max(old, key=lambda c: c[1])
            self._candidates = [best, *(c for c in self._candidates if c[0] >= now - _CANDIDATE_LAG_SECONDS)]

    def finish(self, ctx: AnalysisContext) -> AnalyzerOutput:
        if self._stream is None:
            return AnalyzerOutput(metrics={"scenes": 0})
        for cut, kind in self._stream.finish():
            self._cut_at(cut, kind)
        self._closed.append(max(self._candidates, key=lambda c: c[1]) if self._candidates else None)
        end = max(ctx.duration, self._last_t)
        bounds = [0.0, *self._cuts, end]
        out = AnalyzerOutput(data={"keyframes": {}})
        for i, (start, stop) in enumerate(zip(bounds, bounds[1:], strict=False)):
            best = self._closed[i] if i < len(self._closed) else None
            if best is not None:  # a Picture kept as decoded is converted only now that it won its scene
                best = (best[0], best[1], best[2].rgb() if isinstance(best[2], Picture) else best[2])
            detail = {"index": i} | ({"transition": self._kinds[i - 1]} if i > 0 else {})
            seg = Segment(kind="scene", start=round(start, 3), end=round(stop, 3), detail=detail)
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
                       "transitions": self._kinds, "detector": self._detector_kind, "threshold": self._threshold}
        return out
