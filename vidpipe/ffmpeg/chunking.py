"""Pure planning for chunked transcodes: which frames each chunk job encodes, on the HLS segment grid.

A segment boundary k sits on the first output frame at or after k × segment_seconds (what
`-force_key_frames expr:gte(t, n_forced*seg)` does in the single-job path), so a chunked encode and a single
encode cut the same segments. A chunk is a run of whole segments: it starts on a key frame of the output, its
segments are numbered on from the previous chunk's, and the join only writes playlists (nothing is re-encoded).

Nothing here opens a file or starts a process.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from vidpipe.errors import InputError


@dataclass(frozen=True)
class Chunk:
    index: int
    start_frame: int  # first output frame (CFR at `fps`), a segment boundary
    end_frame: int  # exclusive
    first_segment: int  # number of its first segment (playlists and files count from 1)
    segments: int
    fps: Fraction

    @property
    def frames(self) -> int:
        return self.end_frame - self.start_frame

    @property
    def start(self) -> float:
        return float(self.start_frame / self.fps)

    @property
    def seconds(self) -> float:
        return float(self.frames / self.fps)

    def key_frames(self, segment_seconds: float) -> list[int]:
        """Frame numbers (counted from the chunk's first frame) that must be key frames: its segment starts."""
        return [boundary_frame(k, segment_seconds, self.fps) - self.start_frame
                for k in range(self.first_segment - 1, self.first_segment - 1 + self.segments)]


def _exact(value: float) -> Fraction:
    return Fraction(str(value)).limit_denominator(10_000)


def boundary_frame(k: int, segment_seconds: float, fps: Fraction) -> int:
    """The output frame that starts segment k (0-based): the first frame at or after k × segment_seconds."""
    return math.ceil(k * _exact(segment_seconds) * fps)


def total_frames(duration: float, fps: Fraction) -> int:
    """Output frames of a CFR encode of `duration` seconds (ffmpeg's fps filter rounds to the nearest frame)."""
    return max(1, round(_exact(duration) * fps))


def segment_count(frames: int, segment_seconds: float, fps: Fraction) -> int:
    """Segments of an encode of `frames` frames: a boundary that lands on or past the end starts nothing."""
    n = 1
    while boundary_frame(n, segment_seconds, fps) < frames:
        n += 1
    return n


def _nearest_cheap(target: int, low: int, high: int, segment_seconds: float, fps: Fraction,
                   key_times: Sequence[float]) -> int:
    """Among segment boundaries low..high, the one whose source key frame lies closest before it.

    A chunk's input seek decodes from the source key frame before its start: on a long-GOP source, a boundary
    just after a key frame costs least. Ties (and no key frames known) keep the target."""
    if not key_times or low >= high:
        return target

    def preroll(k: int) -> float:
        t = float(boundary_frame(k, segment_seconds, fps) / fps)
        i = bisect.bisect_right(key_times, t + 1e-6) - 1
        return t - key_times[i] if i >= 0 else t

    return min(range(low, high + 1), key=lambda k: (round(preroll(k), 3), abs(k - target)))


def plan_chunks(duration: float, fps: Fraction, segment_seconds: float, chunk_seconds: float, *,
                first_chunk_seconds: float | None = None, key_times: Sequence[float] = ()) -> list[Chunk]:
    """Split an encode of `duration` seconds into chunks of about `chunk_seconds` on the segment grid.

    The first chunk may be shorter (`first_chunk_seconds`) so the start of the asset is playable early; later
    chunks take about `chunk_seconds` each. With source `key_times`, a boundary may move by up to a quarter of
    a chunk to one where the input seek decodes the least. Every chunk holds at least one whole segment."""
    if duration <= 0 or fps <= 0:
        raise InputError(f"cannot plan chunks for a duration of {duration} s at {fps} frame/s")
    if segment_seconds <= 0 or chunk_seconds < segment_seconds:
        raise InputError(f"chunk_seconds ({chunk_seconds}) must be at least one segment ({segment_seconds} s)")
    frames = total_frames(duration, fps)
    segments = segment_count(frames, segment_seconds, fps)
    per_chunk = max(1, round(chunk_seconds / segment_seconds))
    first = max(1, round((first_chunk_seconds or chunk_seconds) / segment_seconds))
    keys = sorted(key_times)
    starts = [0]
    k = min(first, segments)
    while k < segments:
        slack = per_chunk // 4
        low, high = max(starts[-1] + 1, k - slack), min(segments - 1, k + slack)
        # The first boundary stays put: the short first chunk is what makes the asset playable early.
        chosen = k if len(starts) == 1 else _nearest_cheap(k, low, high, segment_seconds, fps, keys)
        starts.append(chosen)
        k = chosen + per_chunk
    # A last chunk much shorter than the rest is folded into the one before (one job less, same work).
    if len(starts) > 2 and segments - starts[-1] < per_chunk // 3:
        starts.pop()
    ends = starts[1:] + [segments]
    return [Chunk(i, boundary_frame(s, segment_seconds, fps),
                  boundary_frame(e, segment_seconds, fps) if e < segments else frames, s + 1, e - s, fps)
            for i, (s, e) in enumerate(zip(starts, ends, strict=True))]


def should_chunk(duration: float, has_video: bool, threshold_seconds: float | None) -> bool:
    """Long videos are chunked; short ones, audio-only sources and a threshold of None keep the single job."""
    return bool(has_video and threshold_seconds is not None and duration >= threshold_seconds)
