"""Silence: stretches where the 16 kHz mono level stays under a threshold (dBFS RMS per 20 ms window)."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from vidpipe.analysis.base import ANALYSIS_RATE, AnalysisContext, AnalyzerOutput, AudioChunk
from vidpipe.analysis.black import runs_to_segments

WINDOW = ANALYSIS_RATE // 50  # 20 ms


def window_db(x: np.ndarray) -> np.ndarray:
    """RMS level in dBFS of consecutive WINDOW-sample windows (a trailing partial window is dropped)."""
    n = x.size // WINDOW
    if n == 0:
        return np.zeros(0)
    power = (x[: n * WINDOW].astype(np.float64).reshape(n, WINDOW) ** 2).mean(axis=1)
    return 10 * np.log10(np.maximum(power, 1e-12))


class SilenceAnalyzer:
    name: ClassVar[str] = "silence"

    def __init__(self, threshold_db: float = -50.0, min_seconds: float = 0.5) -> None:
        self._threshold, self._min = threshold_db, min_seconds
        self._rest = np.zeros(0, np.float32)
        self._flags: list[tuple[float, bool]] = []
        self._windows = 0

    def on_audio(self, chunk: AudioChunk) -> None:
        x = np.concatenate([self._rest, chunk.mono])
        levels = window_db(x)
        self._rest = x[levels.size * WINDOW:]
        for level in levels:
            flag = bool(level < self._threshold)
            if not self._flags or self._flags[-1][1] != flag:
                self._flags.append((self._windows * WINDOW / ANALYSIS_RATE, flag))
            self._windows += 1

    def finish(self, ctx: AnalysisContext) -> AnalyzerOutput:
        end = self._windows * WINDOW / ANALYSIS_RATE
        segments = runs_to_segments(self._flags, end, self._min, "silence")
        return AnalyzerOutput(segments=segments, metrics={"segments": len(segments),
                                                          "seconds": round(sum(s.end - s.start for s in segments), 3),
                                                          "threshold_db": self._threshold})
