"""Visual fingerprints: perceptual hashes (pHash and dHash, 64 bits) of frames sampled through the video.

One frame per `interval` seconds (1 s, or shorter so that short clips still get >= 16 hashes),
the first frame at or after each sample time. Black borders (letterbox, pillarbox) are cropped before
hashing, and the mirrored frame is hashed too (`mirror`), so letterboxed and flipped copies still match.
Duplicate search (vidpipe.search.matching) aligns the hash lists at any offset and speed.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from vidpipe.analysis.base import AnalysisContext, AnalyzerOutput
from vidpipe.analysis.picture import Picture

MIN_HASHES = 16


def sample_interval(duration: float, per_second: float = 1.0, minimum: int = MIN_HASHES) -> float:
    """1/per_second, shortened so that at least `minimum` samples fit in `duration`."""
    if duration <= 0:
        return 1.0 / per_second
    return min(1.0 / per_second, duration / minimum)


_BORDER_LUMA = 28  # a border row/column is one whose brightest pixel is darker than this
_MIN_CONTENT = 0.4  # crop only when what is left is at least this share of each side (not a dark scene)


def content_box(picture: np.ndarray) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) of the picture inside black bars; the whole frame when there are none.
    `picture`: RGB (brightest channel counts) or luma."""
    luma = picture.max(axis=2) if picture.ndim == 3 else picture
    rows = np.flatnonzero(luma.max(axis=1) >= _BORDER_LUMA)
    cols = np.flatnonzero(luma.max(axis=0) >= _BORDER_LUMA)
    h, w = luma.shape
    if rows.size == 0 or cols.size == 0:
        return 0, h, 0, w
    top, bottom, left, right = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    if bottom - top < _MIN_CONTENT * h or right - left < _MIN_CONTENT * w:
        return 0, h, 0, w
    return top, bottom, left, right


def _hex(bits: np.ndarray) -> str:
    """64 bits, first bit most significant, as 16 hex digits (imagehash's form)."""
    return np.packbits(bits.reshape(-1)).tobytes().hex()


def hashes(gray32: np.ndarray, gray9x8: np.ndarray) -> tuple[str, str, str, str]:
    """pHash and dHash (imagehash's algorithms and hex form) of a picture and of its mirror image, from its
    32x32 and 9x8 (columns x rows) grayscale reductions: one resize each serves both orientations."""
    from scipy.fftpack import dct

    out = []
    for g32, g98 in ((gray32, gray9x8), (gray32[:, ::-1], gray9x8[:, ::-1])):
        low = dct(dct(g32, axis=0), axis=1)[:8, :8]
        out += [_hex(low > np.median(low)), _hex(g98[:, 1:] > g98[:, :-1])]
    return out[0], out[1], out[2], out[3]


def hamming(a: str, b: str) -> int:
    """Bits that differ between two hex hashes."""
    return (int(a, 16) ^ int(b, 16)).bit_count()


def mean_hamming(a: list[str], b: list[str]) -> float:
    """Mean Hamming distance of aligned hash lists (over the shorter length)."""
    n = min(len(a), len(b))
    return float(np.mean([hamming(x, y) for x, y in zip(a[:n], b[:n], strict=True)])) if n else 64.0


class FrameHashAnalyzer:
    name: ClassVar[str] = "fingerprints"

    def __init__(self, per_second: float = 1.0, minimum: int = MIN_HASHES) -> None:
        from PIL import Image

        self._image = Image
        self._per_second, self._minimum = per_second, minimum
        self._interval: float | None = None
        self._next = 0.0
        self._times: list[float] = []
        self._phash: list[str] = []
        self._dhash: list[str] = []
        self._mirror_phash: list[str] = []
        self._mirror_dhash: list[str] = []

    def on_frame(self, t: float, index: int, rgb: np.ndarray) -> None:
        self.on_picture(t, index, Picture.from_rgb(rgb))

    def on_picture(self, t: float, index: int, picture: Picture) -> None:
        if self._interval is None:
            self._interval = 1.0 / self._per_second  # refined in finish; the context's duration is set later
        if t + 1e-6 < self._next:
            return
        while self._next <= t + 1e-6:  # sample on a fixed grid, so frame timing does not drift it
            self._next += self._interval
        luma = picture.luma  # full-range BT.601 luma: what PIL's convert("L") gives from RGB
        top, bottom, left, right = content_box(luma)
        gray = self._image.fromarray(np.ascontiguousarray(luma[top:bottom, left:right]))
        lanczos = self._image.Resampling.LANCZOS  # imagehash's ANTIALIAS
        # reducing_gap: a box reduction to within 3x of the target first, then Lanczos (PIL's own shortcut): ~3x
        # faster than Lanczos over the whole picture, and within ~1 bit of 64 of it (re-encoding moves more)
        p, d, mp, md = hashes(np.asarray(gray.resize((32, 32), lanczos, reducing_gap=3.0)),
                              np.asarray(gray.resize((9, 8), lanczos, reducing_gap=3.0)))
        self._times.append(round(t, 3))
        self._phash.append(p)
        self._dhash.append(d)
        self._mirror_phash.append(mp)
        self._mirror_dhash.append(md)

    def start(self, ctx: AnalysisContext) -> None:
        """Before decoding: pick the interval for this duration."""
        self._interval = sample_interval(ctx.duration, self._per_second, self._minimum)

    def finish(self, ctx: AnalysisContext) -> AnalyzerOutput:
        interval = round(self._interval or 1.0, 4)
        common = {"interval": interval, "duration": round(ctx.duration, 3), "times": self._times, "bits": 64}
        if ctx.source_width and ctx.source_height:  # "exact" duplicates need frames of the same size
            common["size"] = [ctx.source_width, ctx.source_height]
        return AnalyzerOutput(
            fingerprints={"phash": {**common, "hashes": self._phash, "mirror": self._mirror_phash},
                          "dhash": {**common, "hashes": self._dhash, "mirror": self._mirror_dhash}},
            metrics={"hashes": len(self._phash), "interval": interval})
