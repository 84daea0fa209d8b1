"""Visual fingerprints: perceptual hashes (pHash and dHash, 64 bits) of frames sampled through the video.

One frame per `interval` seconds (1 s, or shorter so that short clips still get >= 16 hashes),
the first frame at or after each sample time. Near-duplicate search compares aligned hash lists.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from vidpipe.analysis.base import AnalysisContext, AnalyzerOutput

MIN_HASHES = 16


def sample_interval(duration: float, per_second: float = 1.0, minimum: int = MIN_HASHES) -> float:
    """1/per_second, shortened so that at least `minimum` samples fit in `duration`."""
    if duration <= 0:
        return 1.0 / per_second
    return min(1.0 / per_second, duration / minimum)


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
        import imagehash
        from PIL import Image

        self._imagehash, self._image = imagehash, Image
        self._per_second, self._minimum = per_second, minimum
        self._interval: float | None = None
        self._next = 0.0
        self._times: list[float] = []
        self._phash: list[str] = []
        self._dhash: list[str] = []

    def on_frame(self, t: float, index: int, rgb: np.ndarray) -> None:
        if self._interval is None:
            self._interval = 1.0 / self._per_second  # refined in finish; the context's duration is set later
        if t + 1e-6 < self._next:
            return
        while self._next <= t + 1e-6:  # sample on a fixed grid, so frame timing does not drift it
            self._next += self._interval
        img = self._image.fromarray(rgb)
        self._times.append(round(t, 3))
        self._phash.append(str(self._imagehash.phash(img)))
        self._dhash.append(str(self._imagehash.dhash(img)))

    def start(self, ctx: AnalysisContext) -> None:
        """Before decoding: pick the interval for this duration."""
        self._interval = sample_interval(ctx.duration, self._per_second, self._minimum)

    def finish(self, ctx: AnalysisContext) -> AnalyzerOutput:
        interval = round(self._interval or 1.0, 4)
        common = {"interval": interval, "duration": round(ctx.duration, 3), "times": self._times, "bits": 64}
        return AnalyzerOutput(
            fingerprints={"phash": {**common, "hashes": self._phash}, "dhash": {**common, "hashes": self._dhash}},
            metrics={"hashes": len(self._phash), "interval": interval})
