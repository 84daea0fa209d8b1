"""Alignment-free matching of two videos' frame-hash sequences (pure: arrays in, a verdict out).

Each video is a list of sampled frames (time, pHash, dHash; optionally the hashes of the mirrored frame).
Two copies of one video are related by t_b = speed * t_a + offset: a trimmed or re-cut copy has another
offset, a sped-up copy another speed, a mirrored copy matches the other's mirrored hashes. Frame pairs
whose hashes are close vote for (speed, offset) (a Hough transform over the pair matrix); the best
candidates are then checked frame by frame. What decides a near duplicate:

- `coverage`: the share of `a`'s frames inside the overlap whose partner frame matches;
- `overlap`: the share of the longer video the overlap spans — so two videos sharing only an intro,
  or one photo, or a black opening (a small overlap) are never duplicates;
- `distinct`: the matched frames show several different pictures (not one static frame).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Speeds tried (b's clock against a's): +-12 % in ~2.3 % steps, so that a 10 % speed change is found while
# the drift between steps stays under one sample over a minute-long overlap.
SPEEDS = tuple(float(s) for s in np.geomspace(1 / 1.12, 1.12, 11))
MAX_BIT_SHARE = 0.375  # a sampled frame matches when at most this share of its (pHash + dHash) bits differ
MAX_MEAN_DISTANCE = 0.3  # over the matched frames: copies stay under 0.27 in the tests, chance alignments above
MIN_COVERAGE = 0.8
MIN_OVERLAP = 0.6
MIN_DISTINCT = 3
# A mirrored match is a second hypothesis per pair, so it must be closer: flipping is lossless, and the
# flipped hashes of synthetic patterns (test cards and their negatives) land at ~25 % by chance.
MAX_MIRRORED_MEAN = 0.2
CANDIDATES = 4  # best (speed, offset) cells verified frame by frame


@dataclass(frozen=True)
class FrameHashes:
    """Sampled frames of one video: times (s), hashes as uint64 columns (pHash[, dHash]), mirrored ones if known."""

    times: np.ndarray  # float64 (n,)
    hashes: np.ndarray  # uint64 (n, k), k = 1 (pHash) or 2 (pHash, dHash)
    duration: float
    interval: float
    mirrored: np.ndarray | None = None  # uint64 (n, k): the same hashes of the horizontally flipped frames
    size: tuple[int, int] | None = None  # the source's frame (width, height), when the fingerprints say

    @property
    def bits(self) -> int:
        return 64 * self.hashes.shape[1]

    def columns(self, k: int) -> FrameHashes:
        """Only the first k hash columns (to compare with a video that has fewer)."""
        mirrored = None if self.mirrored is None else self.mirrored[:, :k]
        return FrameHashes(self.times, self.hashes[:, :k], self.duration, self.interval, mirrored, self.size)


@dataclass(frozen=True)
class Match:
    speed: float
    offset: float  # seconds: t_b = speed * t_a + offset
    mirrored: bool
    matched: int
    compared: int  # frames of a that fall inside b
    mean_distance: float  # share of differing bits over the matched frames
    distinct: int
    overlap: float  # overlap length / the longer video's length

    @property
    def coverage(self) -> float:
        return self.matched / self.compared if self.compared else 0.0

    @property
    def score(self) -> float:
        """Higher for closer copies: matched share x hash agreement x how much of the longer video is shared."""
        return round(self.coverage * (1.0 - self.mean_distance) * min(1.0, self.overlap), 4)

    def is_near(self) -> bool:
        return (self.coverage >= MIN_COVERAGE and self.overlap >= MIN_OVERLAP and self.distinct >= MIN_DISTINCT
                and self.mean_distance <= (MAX_MIRRORED_MEAN if self.mirrored else MAX_MEAN_DISTANCE))

    def is_identical(self, a: FrameHashes, b: FrameHashes) -> bool:
        """The same pictures at the same times, start to end: (almost) every hash bit equal (a remux, not a re-encode
        at another size or quality, which is a near duplicate). Frames of another size are another encode even when
        the hashes agree (a letterboxed copy and a downscaled one hash alike once the bars are cropped)."""
        same_size = a.size is None or b.size is None or a.size == b.size
        return (same_size and self.matched == len(a.times) == len(b.times) and abs(self.speed - 1.0) < 1e-6
                and not self.mirrored and abs(self.offset) <= 0.5 * a.interval
                and abs(a.duration - b.duration) < 0.5 and self.mean_distance <= 0.01
                and self.distinct >= MIN_DISTINCT)


def distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Differing bits between every frame of a (n, k) and of b (m, k): an (n, m) uint16 matrix."""
    out = np.zeros((a.shape[0], b.shape[0]), np.uint16)
    for col in range(a.shape[1]):
        out += np.bitwise_count(a[:, col][:, None] ^ b[:, col][None, :]).astype(np.uint16)
    return out


def _votes(a: FrameHashes, b: FrameHashes, close: np.ndarray) -> list[tuple[int, float, float]]:
    """(votes, speed, offset) cells of the Hough space, best first; a frame of `a` votes once per cell."""
    ia, jb = np.nonzero(close)
    if ia.size == 0:
        return []
    width = max(b.interval, a.interval)
    cells: list[tuple[int, float, float]] = []
    for speed in SPEEDS:
        offsets = b.times[jb] - speed * a.times[ia]
        bins = np.round(offsets / width).astype(np.int64)
        keys = np.unique(np.stack([bins, ia]), axis=1)[0]  # one vote per (cell, frame of a)
        values, counts = np.unique(keys, return_counts=True)
        for k in np.argsort(-counts)[:CANDIDATES]:
            in_cell = bins == values[k]
            cells.append((int(counts[k]), speed, float(np.median(offsets[in_cell]))))
    cells.sort(key=lambda c: (-c[0], abs(np.log(c[1]))))
    return cells[:CANDIDATES]


def _verify(a: FrameHashes, b: FrameHashes, dist: np.ndarray, speed: float, offset: float, mirrored: bool,
            limit: float) -> Match:
    """Frame by frame: each frame of `a` against b's frames nearest the predicted time (+-1 sample)."""
    predicted = speed * a.times + offset
    inside = (predicted >= b.times[0] - b.interval / 2) & (predicted <= b.times[-1] + b.interval / 2)
    idx = np.searchsorted(b.times, predicted)
    best = np.full(len(a.times), np.iinfo(np.uint16).max, np.int64)
    for shift in (-1, 0, 1):
        j = np.clip(idx + shift, 0, len(b.times) - 1)
        near = np.abs(b.times[j] - predicted) <= 1.5 * b.interval
        d = np.where(near, dist[np.arange(len(a.times)), j], best)
        best = np.minimum(best, d)
    hit = inside & (best <= limit)
    compared = int(inside.sum())
    matched = int(hit.sum())
    mean = float(best[hit].mean() / a.bits) if matched else 1.0
    distinct = len({tuple(row) for row in a.hashes[hit].tolist()})
    span_a = (a.times[inside].max() - a.times[inside].min() + a.interval) if compared else 0.0
    longer = max(a.duration, b.duration / speed, 1e-6)
    return Match(speed, offset, mirrored, matched, compared, mean, distinct, float(min(1.0, span_a / longer)))


def best_match(a: FrameHashes, b: FrameHashes, *, max_bit_share: float = MAX_BIT_SHARE) -> Match | None:
    """The best (speed, offset, orientation) alignment of b against a, or None when no frames are close."""
    if len(a.times) == 0 or len(b.times) == 0:
        return None
    k = min(a.hashes.shape[1], b.hashes.shape[1])
    a, b = a.columns(k), b.columns(k)
    limit = max_bit_share * a.bits
    best: Match | None = None
    orientations = [(False, b.hashes)] + ([(True, b.mirrored)] if b.mirrored is not None else [])
    for mirrored, theirs in orientations:
        dist = distances(a.hashes, theirs)
        for _, speed, offset in _votes(a, b, dist <= limit):
            m = _verify(a, b, dist, speed, offset, mirrored, limit)
            if best is None or (m.is_near(), m.score, m.matched) > (best.is_near(), best.score, best.matched):
                best = m
    return best
