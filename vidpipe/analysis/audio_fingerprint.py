"""Audio fingerprint (Haitsma-Kalker style, like chromaprint's idea): 32-bit words from band-energy differences.

On the 16 kHz mono track: 2048-sample Hann frames every 512 samples (31.25 words/s), energies of
33 log-spaced bands between 300 and 2000 Hz; bit m of word n is set when
(E[n,m] - E[n,m+1]) - (E[n-1,m] - E[n-1,m+1]) > 0. The signs of energy slopes survive re-encoding,
resampling and level changes; compare two prints by their bit error rate at the best alignment.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from vidpipe.analysis.base import ANALYSIS_RATE, AnalysisContext, AnalyzerOutput, AudioChunk

FRAME, HOP, BANDS = 2048, 512, 33
_EDGES = np.geomspace(300.0, 2000.0, BANDS + 1)


def fingerprint(mono: np.ndarray, rate: int = ANALYSIS_RATE) -> np.ndarray:
    """uint32 words (one per hop after the first frame)."""
    if mono.size < FRAME + HOP:
        return np.zeros(0, np.uint32)
    count = 1 + (mono.size - FRAME) // HOP
    frames = np.lib.stride_tricks.sliding_window_view(mono.astype(np.float32), FRAME)[::HOP][:count]
    band = np.digitize(np.fft.rfftfreq(FRAME, 1.0 / rate), _EDGES) - 1
    # A (bins x bands) 0/1 matrix sums the power spectrum into bands; blocks keep memory flat for long files.
    to_bands = (band[:, None] == np.arange(BANDS)[None, :]).astype(np.float32)
    window = np.hanning(FRAME).astype(np.float32)
    energy = np.concatenate([np.abs(np.fft.rfft(frames[i:i + 2048] * window, axis=1)) ** 2 @ to_bands
                             for i in range(0, count, 2048)])
    energy = np.log(energy + 1e-10)
    diff = energy[:, :-1] - energy[:, 1:]  # (n, 32)
    bits = (diff[1:] - diff[:-1]) > 0
    return (bits.astype(np.uint64) << np.arange(32, dtype=np.uint64)).sum(axis=1).astype(np.uint32)


def bit_error_rate(a: np.ndarray, b: np.ndarray, max_shift: int = 8) -> float:
    """Smallest fraction of differing bits over alignments within +-max_shift words (1.0 if nothing overlaps)."""
    a, b = np.asarray(a, np.uint32), np.asarray(b, np.uint32)
    best = 1.0
    for shift in range(-max_shift, max_shift + 1):
        x, y = (a[shift:], b) if shift >= 0 else (a, b[-shift:])
        n = min(x.size, y.size)
        if n < 8:
            continue
        ber = np.unpackbits((x[:n] ^ y[:n]).view(np.uint8)).sum() / (32 * n)
        best = min(best, float(ber))
    return best


def _signs(words: np.ndarray) -> np.ndarray:
    """(32, n) of +-1: each bit plane of the words."""
    bits = (words[None, :] >> np.arange(32, dtype=np.uint32)[:, None]) & 1
    return bits.astype(np.float32) * 2 - 1


def best_overlap(a: np.ndarray, b: np.ndarray, *, min_words: int = 94) -> tuple[float, int]:
    """(bit error rate, offset in words) of the best alignment at ANY offset with >= min_words (3 s) in common.

    Offset: a[offset + i] pairs with b[i]. Every offset at once: the bit planes as +-1 sequences,
    cross-correlated by FFT; agreement minus disagreement over the overlap gives the bit error rate.
    Unrelated sound sits near 0.5; the same recording, re-encoded or under other pictures, well under 0.25.
    """
    a, b = np.asarray(a, np.uint32), np.asarray(b, np.uint32)
    n, m = a.size, b.size
    if n < min_words or m < min_words:
        return 1.0, 0
    size = 1 << int(np.ceil(np.log2(n + m)))
    spectrum = (np.fft.rfft(_signs(a), size, axis=1) * np.conj(np.fft.rfft(_signs(b), size, axis=1))).sum(axis=0)
    corr = np.fft.irfft(spectrum, size)
    shifts = np.arange(-(m - min_words), n - min_words + 1)
    overlap = np.where(shifts >= 0, np.minimum(n - shifts, m), np.minimum(n, m + shifts))
    ber = (1.0 - corr[shifts % size] / (32.0 * overlap)) / 2.0
    k = int(np.argmin(ber))
    return float(max(0.0, ber[k])), int(shifts[k])


class AudioFingerprintAnalyzer:
    name: ClassVar[str] = "audio_fingerprint"

    def on_audio(self, chunk: AudioChunk) -> None:
        return None  # works on the whole mono track the pass keeps (ctx.audio)

    def finish(self, ctx: AnalysisContext) -> AnalyzerOutput:
        words = fingerprint(ctx.audio)
        return AnalyzerOutput(
            fingerprints={"audio": {"algorithm": "hk-bands-32", "rate": ANALYSIS_RATE, "frame": FRAME, "hop": HOP,
                                    "words_per_second": ANALYSIS_RATE / HOP, "duration": round(ctx.duration, 3),
                                    "words": words.tolist()}},
            metrics={"words": int(words.size)})
