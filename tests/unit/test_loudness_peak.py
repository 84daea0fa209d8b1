"""True peak measured only where it can be: the same value as oversampling every sample."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from vidpipe.analysis.base import LOUDNESS_RATE, AnalysisContext, AudioChunk
from vidpipe.analysis.loudness import _OVERSAMPLE, LoudnessAnalyzer


def _measure(pcm: np.ndarray, chunk: int) -> dict:
    a = LoudnessAnalyzer()
    ctx = AnalysisContext(duration=pcm.shape[0] / LOUDNESS_RATE, has_video=False, has_audio=True, probe={})
    ctx.channel_names = ("FL", "FR")
    a.start(ctx)
    for start in range(0, pcm.shape[0], chunk):
        part = pcm[start:start + chunk]
        a.on_audio(AudioChunk(t=start / LOUDNESS_RATE, mono=part.mean(axis=1), pcm=part))
    return a.finish(ctx).metrics


@pytest.mark.parametrize("chunk", [LOUDNESS_RATE, 12_345])
def test_true_peak_equals_oversampling_everything(chunk):
    rng = np.random.default_rng(7)
    n = 5 * LOUDNESS_RATE
    t = np.arange(n) / LOUDNESS_RATE
    # decaying notes under a quiet bed, an inter-sample peak (a tone at a quarter of the sample rate, off-phase) in a
    # quiet stretch, and a click on a chunk border: the places a shortcut would miss
    pcm = np.stack([0.3 * np.sin(2 * np.pi * 440 * t) * np.exp(-(t % 0.5) * 8),
                    0.05 * rng.standard_normal(n)], axis=1).astype(np.float32)
    burst = slice(int(2.3 * LOUDNESS_RATE), int(2.3 * LOUDNESS_RATE) + 256)
    pcm[burst, 1] = 0.6 * np.sin(2 * np.pi * 0.25 * np.arange(256) + np.pi / 4)  # samples at 0.42, peak 0.6
    pcm[LOUDNESS_RATE - 1, 0] = -0.45
    reference = max(float(np.abs(signal.upfirdn(_OVERSAMPLE, pcm.astype(np.float64), 4, 1, axis=0)).max()),
                    float(np.abs(pcm).max()))  # as reported: never under the sample peak
    assert reference > float(np.abs(pcm).max()) + 0.01  # the inter-sample peak decides
    got = _measure(pcm, chunk)["true_peak_dbtp"]
    assert got == pytest.approx(round(20 * np.log10(reference), 2), abs=0.011)
