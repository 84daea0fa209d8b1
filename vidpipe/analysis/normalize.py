"""Loudness-normalised audio renditions: measure each audio track (BS.1770, vidpipe.analysis.loudness), then one
linear gain to the profile's target, with a limiter only when the gain would push peaks over the ceiling.

Linear, not FFmpeg's one-pass `loudnorm` (which rides the level through the programme and changes its
dynamics): a mix keeps its own dynamics and only gets louder or quieter as a whole, the EBU R128 way. The
measurement is a decode of the audio only (no video), a small share of a transcode.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vidpipe.analysis import registry
from vidpipe.analysis.pipeline import run_pass

# The limiter sees sample peaks; inter-sample peaks can stand up to ~0.5 dB above them after encoding.
_TRUE_PEAK_MARGIN_DB = 0.5
_MIN_LIMIT_DB = -24.0  # alimiter's lowest ceiling is 0.0625 (-24 dBFS)


@dataclass(frozen=True)
class Normalisation:
    """What was done to one audio track: measured loudness/peak, the gain, whether a limiter was needed."""

    integrated_lufs: float | None
    true_peak_dbtp: float | None
    gain_db: float
    limited: bool
    filter: str | None  # the FFmpeg audio filter, None when nothing is to be done (silence, already on target)

    def as_dict(self, target: float) -> dict[str, Any]:
        return {"target_lufs": target, "measured_lufs": self.integrated_lufs, "true_peak_dbtp": self.true_peak_dbtp,
                "gain_db": round(self.gain_db, 2), "limited": self.limited}


def plan_gain(integrated_lufs: float | None, true_peak_dbtp: float | None, target_lufs: float,
              peak_ceiling_dbtp: float = -1.0) -> Normalisation:
    """The filter that brings `integrated_lufs` to `target_lufs`: volume, plus alimiter when the peak after the
    gain would pass `peak_ceiling_dbtp`. Silence (no measurable loudness) is left alone."""
    if integrated_lufs is None or not math.isfinite(integrated_lufs):
        return Normalisation(integrated_lufs, true_peak_dbtp, 0.0, False, None)
    gain = target_lufs - integrated_lufs
    if abs(gain) < 0.05:
        return Normalisation(integrated_lufs, true_peak_dbtp, 0.0, False, None)
    parts = [f"volume={gain:.2f}dB"]
    limited = true_peak_dbtp is not None and true_peak_dbtp + gain > peak_ceiling_dbtp
    if limited:
        ceiling = max(_MIN_LIMIT_DB, peak_ceiling_dbtp - _TRUE_PEAK_MARGIN_DB)
        # level=0: no make-up gain (the default would lift the whole track to the ceiling again)
        parts.append(f"alimiter=limit={10 ** (ceiling / 20):.4f}:attack=5:release=50:level=0")
    return Normalisation(integrated_lufs, true_peak_dbtp, gain, limited, ",".join(parts))


def measure_track(path: Path, probe: dict[str, Any], stream_index: int) -> dict[str, Any]:
    """BS.1770 loudness of one audio stream (probe's `index`) of `path`: the analyzer's metrics."""
    streams = [s for s in probe.get("streams") or [] if s.get("type") != "audio" or s.get("index") == stream_index]
    only = {**probe, "streams": [s for s in streams if s.get("type") == "audio"]}  # audio only: no video decode
    result = run_pass(path, only, registry.build(["loudness"], has_video=False))
    return result.metrics.get("loudness") or {}


def normalise_tracks(path: Path, probe: dict[str, Any], source_indexes: list[int], target_lufs: float,
                     peak_ceiling_dbtp: float = -1.0) -> list[Normalisation]:
    """One Normalisation per audio track, `source_indexes` being N of `0:a:N` (the plan's AudioTrack order)."""
    audio = sorted((s for s in probe.get("streams") or [] if s.get("type") == "audio"),
                   key=lambda s: int(s.get("index", 0)))  # as hls.plan_audio numbers them
    out = []
    for n in source_indexes:
        metrics = measure_track(path, probe, audio[n]["index"]) if n < len(audio) else {}
        out.append(plan_gain(metrics.get("integrated_lufs"), metrics.get("true_peak_dbtp"), target_lufs,
                             peak_ceiling_dbtp))
    return out
