"""Waveform peaks for a scrubber display, from mono float PCM fed in chunks (pure; the caller decodes)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

DEFAULT_POINTS = 1000


class PeakAccumulator:
    """Min/max per bucket over a stream of mono float32 chunks, without holding the whole signal.

    Buckets are sized from the expected sample count (from the probed duration); samples past the
    estimate land in the last bucket, and a short stream simply leaves trailing buckets unused.
    """

    def __init__(self, expected_samples: int, points: int = DEFAULT_POINTS) -> None:
        self.points = max(1, points)
        self.samples_per_point = max(1, math.ceil(max(1, expected_samples) / self.points))
        self._min = np.full(self.points, np.inf, dtype=np.float32)
        self._max = np.full(self.points, -np.inf, dtype=np.float32)
        self.count = 0

    def add(self, chunk: np.ndarray) -> None:
        chunk = np.asarray(chunk, dtype=np.float32).reshape(-1)
        if chunk.size == 0:
            return
        spp, last = self.samples_per_point, self.points - 1
        first_bucket = min(self.count // spp, last)
        buckets = np.arange(first_bucket, min((self.count + chunk.size - 1) // spp, last) + 1)
        starts = np.maximum(buckets * spp - self.count, 0)  # where each bucket begins inside this chunk
        np.minimum.at(self._min, buckets, np.minimum.reduceat(chunk, starts))
        np.maximum.at(self._max, buckets, np.maximum.reduceat(chunk, starts))
        self.count += chunk.size

    def peaks(self) -> list[tuple[float, float]]:
        """(min, max) pairs clipped to [-1, 1]; buckets that got no samples are dropped."""
        used = np.isfinite(self._min)
        lo = np.clip(self._min[used], -1.0, 1.0)
        hi = np.clip(self._max[used], -1.0, 1.0)
        return [(round(float(a), 4), round(float(b), 4)) for a, b in zip(lo, hi, strict=True)]


def compute_peaks(samples: np.ndarray, points: int = DEFAULT_POINTS) -> list[tuple[float, float]]:
    """Peaks of a whole mono signal at once."""
    acc = PeakAccumulator(int(np.asarray(samples).size), points)
    acc.add(samples)
    return acc.peaks()


def waveform_document(peaks: list[tuple[float, float]], *, sample_rate: int, samples: int, bits: int,
                      samples_per_point: int) -> dict[str, Any]:
    """The waveform.json body (close to audiowaveform's JSON, with data normalised to [-1, 1])."""
    return {
        "version": 2,
        "channels": 1,
        "sample_rate": sample_rate,
        "samples_per_pixel": samples_per_point,
        "bits": bits,
        "length": len(peaks),
        "duration": round(samples / sample_rate, 3) if sample_rate else 0.0,
        "data": [v for pair in peaks for v in pair],
    }
