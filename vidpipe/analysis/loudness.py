"""EBU R128 / ITU-R BS.1770-4 loudness, streamed: integrated loudness, loudness range, true peak.

The K-weighting filters run with carried state over the 48 kHz chunks; only mean squares per
100 ms sub-block are kept (36 kB per hour), from which the gated 400 ms blocks (integrated) and
3 s short-term windows (range, EBU Tech 3342) are formed. True peak: 4x oversampled (polyphase
resampling, with context carried across chunk borders), as BS.1770 Annex 2 describes.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from scipy import ndimage, signal

from vidpipe.analysis.base import LOUDNESS_RATE, AnalysisContext, AnalyzerOutput, AudioChunk

# BS.1770 K-weighting at 48 kHz: high-shelf pre-filter, then the RLB high-pass.
_SHELF = (np.array([1.53512485958697, -2.69169618940638, 1.19839281085285]),
          np.array([1.0, -1.69065929318241, 0.73248077421585]))
_RLB = (np.array([1.0, -2.0, 1.0]), np.array([1.0, -1.99004745483398, 0.99007225036621]))
# Both K-weighting stages as one cascade of second-order sections: one filter pass over the chunk, not two.
_K_SOS = np.array([[*_SHELF[0], *_SHELF[1]], [*_RLB[0], *_RLB[1]]])
_SUB = LOUDNESS_RATE // 10  # 100 ms
# 4x oversampling low-pass, 48 taps (12 per phase) as in BS.1770-4 Annex 2; gain 4 restores the level.
_OVERSAMPLE = signal.firwin(48, 0.9 / 4) * 4
_TAPS_PER_PHASE = _OVERSAMPLE.size // 4
# Output 4n+p of the oversampler is sum_j h[4j+p] x[n-j] (j < 12): with w = x[n-11..n] it is w @ _PHASES[:, p].
_PHASES = np.stack([_OVERSAMPLE[4 * (_TAPS_PER_PHASE - 1 - np.arange(_TAPS_PER_PHASE)) + p] for p in range(4)], axis=1)
# No oversampled value exceeds this many times the largest input sample under its taps (the largest sum of
# |coefficients| of a phase): a position whose 12 inputs stay below best / _PHASE_GAIN cannot raise the peak.
_PHASE_GAIN = max(float(np.abs(_OVERSAMPLE[p::4]).sum()) for p in range(4))
# BS.1770-4 Table 3 (as FFmpeg's ebur128 applies it): channels behind the listener count +1.5 dB, LFE not at all.
_SURROUND = frozenset({"BL", "BR", "BC", "SL", "SR", "TBL", "TBR", "TBC", "SDL", "SDR"})
_LFE = frozenset({"LFE", "LFE2", "LFE1"})


def channel_weights(names: tuple[str, ...] | list[str], count: int) -> np.ndarray:
    """BS.1770 weight of each channel; unnamed channels (or a count mismatch) weigh 1.0."""
    if len(names) != count:
        return np.ones(count)
    return np.array([0.0 if n in _LFE else 1.41 if n in _SURROUND else 1.0 for n in names])


def _lufs(power: np.ndarray | float) -> np.ndarray | float:
    with np.errstate(divide="ignore"):
        return -0.691 + 10 * np.log10(power)


def gated_integrated(block_power: np.ndarray) -> float | None:
    """Integrated loudness of 400 ms block powers: absolute gate -70 LUFS, relative gate -10 LU."""
    loud = _lufs(block_power)
    kept = block_power[loud > -70.0]
    if kept.size == 0:
        return None
    relative = _lufs(kept.mean()) - 10.0
    kept = block_power[(loud > -70.0) & (loud > relative)]
    return float(_lufs(kept.mean())) if kept.size else None


def loudness_range(short_power: np.ndarray) -> float | None:
    """LRA of 3 s short-term powers: absolute gate -70, relative gate -20 LU, 95th minus 10th percentile."""
    loud = _lufs(short_power)
    kept = short_power[loud > -70.0]
    if kept.size == 0:
        return None
    relative = _lufs(kept.mean()) - 20.0
    values = _lufs(short_power[(loud > -70.0) & (loud > relative)])
    if np.size(values) == 0:
        return None
    lo, hi = np.percentile(values, [10, 95])
    return float(hi - lo)


class LoudnessAnalyzer:
    name: ClassVar[str] = "loudness"

    def __init__(self) -> None:
        self._names: tuple[str, ...] = ()
        self._weights: np.ndarray | None = None
        self._zi: np.ndarray | None = None
        self._sub: list[float] = []  # channel-summed mean square per 100 ms sub-block
        self._acc = np.zeros(0, np.float64)  # weighted squares not yet forming a full sub-block
        self._tail: np.ndarray | None = None
        self._true_peak = 0.0
        self._sample_peak = 0.0

    def start(self, ctx: AnalysisContext) -> None:
        self._names = tuple(ctx.channel_names)

    def on_audio(self, chunk: AudioChunk) -> None:
        # Channels as rows: the decoder's planar samples stay contiguous, and every step below runs along them.
        x = chunk.pcm.T.astype(np.float64)
        if x.size == 0:
            return
        channels = x.shape[0]
        if self._zi is None:
            self._zi = np.zeros((2, channels, 2))  # sections x channels x state
            self._weights = channel_weights(self._names, channels)
        y, self._zi = signal.sosfilt(_K_SOS, x, axis=1, zi=self._zi)
        squares = self._weights @ (y * y)  # BS.1770 channel weights: 1.0 front, 1.41 surround, LFE 0
        acc = np.concatenate([self._acc, squares])
        full = acc.size // _SUB
        if full:
            self._sub.extend((acc[: full * _SUB].reshape(full, _SUB).mean(axis=1)).tolist())
        self._acc = acc[full * _SUB:]
        level = np.abs(x).max(axis=0)  # per sample, the loudest channel
        chunk_peak = float(level.max())
        self._sample_peak = max(self._sample_peak, chunk_peak)
        # A chunk (with the 11 samples before it) whose every sample stays under best / _PHASE_GAIN cannot hold the
        # maximum: exact, and it skips most chunks of most material.
        tail_peak = float(np.abs(self._tail).max(initial=0.0)) if self._tail is not None else 0.0
        if max(chunk_peak, tail_peak) * _PHASE_GAIN >= self._true_peak:
            self._peak(x, level)
        else:
            self._tail = x[:, -(_TAPS_PER_PHASE - 1):]

    def _peak(self, x: np.ndarray, level: np.ndarray) -> None:
        """Raise the true peak with the oversampled values of `x` (channels, samples); `level`: its per-sample
        largest magnitude. The previous chunk's last 11 samples give the taps their history. Only the positions
        whose inputs could beat the peak so far are computed: their 12 inputs' largest magnitude times
        _PHASE_GAIN reaches it. On most material that is a small share."""
        history = self._tail if self._tail is not None else np.zeros((x.shape[0], _TAPS_PER_PHASE - 1))
        joined = np.concatenate([history, x], axis=1)
        self._tail = joined[:, -(_TAPS_PER_PHASE - 1):]
        level = np.concatenate([np.abs(history).max(axis=0), level])
        best = max(self._true_peak, float(level.max()))
        # reach[i]: the largest input magnitude under the taps of output position n = i + 11 (inputs i..i+11)
        reach = ndimage.maximum_filter1d(level, _TAPS_PER_PHASE, origin=-(_TAPS_PER_PHASE // 2))
        reach = reach[: joined.shape[1] - _TAPS_PER_PHASE + 1]
        where = np.flatnonzero(reach * _PHASE_GAIN >= best)
        if where.size == 0:
            return
        windows = np.lib.stride_tricks.sliding_window_view(joined, _TAPS_PER_PHASE, axis=1)[:, where]  # (ch, k, 12)
        values = windows @ _PHASES  # (ch, k, 4): every phase of every chosen position
        self._true_peak = max(self._true_peak, float(np.abs(values).max()))

    def finish(self, ctx: AnalysisContext) -> AnalyzerOutput:
        if self._tail is not None:  # the filter's ringing after the last sample
            silence = np.zeros((self._tail.shape[0], _TAPS_PER_PHASE - 1))
            self._peak(silence, silence[0])
        sub = np.asarray(self._sub)
        blocks = np.convolve(sub, np.ones(4) / 4, mode="valid") if sub.size >= 4 else np.zeros(0)
        short = np.convolve(sub, np.ones(30) / 30, mode="valid")[::10] if sub.size >= 30 else np.zeros(0)
        integrated = gated_integrated(blocks) if blocks.size else None
        lra = loudness_range(short) if short.size else None
        peak_db = 20 * np.log10(max(self._true_peak, self._sample_peak)) if self._sample_peak > 0 else None
        sample_db = 20 * np.log10(self._sample_peak) if self._sample_peak > 0 else None
        metrics = {
            "integrated_lufs": None if integrated is None else round(integrated, 2),
            "range_lu": None if lra is None else round(lra, 2),
            "true_peak_dbtp": None if peak_db is None else round(float(peak_db), 2),
            "sample_peak_dbfs": None if sample_db is None else round(float(sample_db), 2),
            "standard": "ITU-R BS.1770-4 / EBU R128",
            "channels": list(self._names) or None,
        }
        # Also kept per asset (the `fingerprints` table, kind "loudness"): the API and the asset page show it.
        return AnalyzerOutput(metrics=metrics, fingerprints={"loudness": metrics})
