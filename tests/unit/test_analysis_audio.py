"""Audio analyzers on generated signals with known truth: loudness, silence, one-shots, audio fingerprint."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import wave
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile

from vidpipe.analysis import registry
from vidpipe.analysis.audio_fingerprint import bit_error_rate, fingerprint
from vidpipe.analysis.pipeline import run_pass
from vidpipe.ffmpeg.probe import probe_file
from vidpipe.ffmpeg.process import run_ffmpeg
from vidpipe.settings import Limits

RATE = 48_000


def analyse(path: Path, names: list[str]):
    return run_pass(path, probe_file(path, Limits()), registry.build(names))


def write(path: Path, stereo: np.ndarray) -> Path:
    soundfile.write(path, stereo.astype(np.float32), RATE, subtype="FLOAT")
    return path


def sine(seconds: float, freq: float = 1000.0, amplitude: float = 0.1) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return amplitude * np.sin(2 * np.pi * freq * t)


def test_loudness_of_a_sine_at_minus_23_lufs(tmp_path):
    import pyloudnorm

    tone = np.stack([sine(10.0), sine(10.0)], axis=1)
    meter = pyloudnorm.Meter(RATE)
    tone = pyloudnorm.normalize.loudness(tone, meter.integrated_loudness(tone), -23.0)
    reference = meter.integrated_loudness(tone)
    path = write(tmp_path / "tone.wav", tone)
    m = analyse(path, ["loudness"]).metrics["loudness"]
    peak_db = 20 * np.log10(np.abs(tone).max())
    print(f"\nloudness: ours {m['integrated_lufs']} LUFS, pyloudnorm {reference:.2f} LUFS, LRA {m['range_lu']} LU, "
          f"true peak {m['true_peak_dbtp']} dBTP (sample peak {peak_db:.2f})")
    assert m["integrated_lufs"] == pytest.approx(-23.0, abs=0.5)
    assert m["integrated_lufs"] == pytest.approx(reference, abs=0.1)
    assert m["range_lu"] == pytest.approx(0.0, abs=0.5)
    assert m["true_peak_dbtp"] == pytest.approx(peak_db, abs=0.3)


def test_loudness_range_and_true_peak_of_a_level_step(tmp_path):
    # 10 s at -30 LUFS-ish then 10 s 10 dB louder: LRA about 10 LU; a 1/4-rate sine at 45 degrees phase has
    # inter-sample peaks 3 dB above its samples.
    quiet, loud = sine(10.0, 997.0, 0.02), sine(10.0, 997.0, 0.02 * 10 ** 0.5)
    mono = np.concatenate([quiet, loud])
    m = analyse(write(tmp_path / "step.wav", np.stack([mono, mono], axis=1)), ["loudness"]).metrics["loudness"]
    assert m["range_lu"] == pytest.approx(10.0, abs=1.0)
    n = np.arange(RATE)
    tricky = 0.5 * np.sin(2 * np.pi * 12000 * n / RATE + np.pi / 4)
    m = analyse(write(tmp_path / "isp.wav", np.stack([tricky, tricky], axis=1)), ["loudness"]).metrics["loudness"]
    assert m["sample_peak_dbfs"] == pytest.approx(20 * np.log10(0.5 * np.sqrt(0.5)), abs=0.1)
    assert m["true_peak_dbtp"] == pytest.approx(20 * np.log10(0.5), abs=0.5)


def test_silence_segments_at_known_ranges(tmp_path):
    mono = np.concatenate([sine(1.0), np.zeros(int(1.5 * RATE)), sine(1.5), np.zeros(RATE)])
    result = analyse(write(tmp_path / "gaps.wav", np.stack([mono, mono], axis=1)), ["silence"])
    got = [(s.start, s.end) for s in result.analysis.segments_of("silence")]
    assert len(got) == 2
    for (start, end), (want_start, want_end) in zip(got, [(1.0, 2.5), (4.0, 5.0)], strict=True):
        assert start == pytest.approx(want_start, abs=0.03) and end == pytest.approx(want_end, abs=0.03)


def hits(times: list[float], seconds: float, rng: np.random.Generator) -> np.ndarray:
    """Short decaying noise bursts ("hits") at `times`, silence between."""
    out = np.zeros(int(seconds * RATE))
    length = int(0.25 * RATE)
    decay = np.exp(-np.arange(length) / (0.04 * RATE))
    for t in times:
        start = int(t * RATE)
        out[start:start + length] += 0.6 * rng.standard_normal(length) * decay
    return out


def test_five_hits_become_five_oneshots_at_the_right_times(tmp_path):
    truth = [0.5, 1.3, 2.2, 3.0, 3.9]
    mono = hits(truth, 4.6, np.random.default_rng(1))
    result = analyse(write(tmp_path / "hits.wav", np.stack([mono, 0.8 * mono], axis=1)), ["oneshots"])
    shots = result.analysis.segments_of("oneshot")
    print(f"\none-shots: {[(s.start, s.end) for s in shots]} for hits at {truth}")
    assert len(shots) == 5
    for shot, t in zip(shots, truth, strict=True):
        assert shot.start == pytest.approx(t, abs=0.02)
        assert t + 0.05 < shot.end < t + 0.5
    files = {o.key: o for o in result.outputs}
    assert sorted(k for k, o in files.items() if o.kind == "oneshot") == [
        f"analysis/oneshots/oneshot-{i:03d}.wav" for i in range(1, 6)]
    with wave.open(io.BytesIO(files["analysis/oneshots/oneshot-001.wav"].data)) as w:
        assert (w.getnchannels(), w.getframerate(), w.getsampwidth()) == (2, RATE, 2)
        pcm = np.frombuffer(w.readframes(w.getnframes()), "<i2")
    assert 0.85 < np.abs(pcm).max() / 32767 < 0.9  # peak-normalized to -1 dBFS
    pack = zipfile.ZipFile(io.BytesIO(files["analysis/oneshots.zip"].data))
    assert len(pack.namelist()) == 5 and files["analysis/oneshots.zip"].kind == "oneshot_pack"


def speak(path: Path, text: str) -> Path:
    subprocess.run(["espeak-ng", "-w", str(path), text], check=True)
    return path


@pytest.mark.skipif(shutil.which("espeak-ng") is None and os.environ.get("CI") != "true",
                                 reason="needs espeak-ng (CI installs it)")
def test_audio_fingerprint_survives_reencoding_and_tells_clips_apart(tmp_path):
    # Speech, not steady tones: band-energy slopes of a stationary tone are noise, of real sound they are not.
    src = speak(tmp_path / "a.wav", "the quick brown fox jumps over the lazy dog while the band plays in the park")
    lossy = tmp_path / "a.m4a"
    run_ffmpeg(["-i", str(src), "-c:a", "aac", "-b:a", "48k", "-ar", "44100", str(lossy)])
    other = speak(tmp_path / "b.wav", "please call stella and ask her to bring these things with her from the store")
    prints = {}
    for name, path in (("a", src), ("a_aac", lossy), ("b", other)):
        prints[name] = np.array(analyse(path, ["audio_fingerprint"]).understanding.fingerprints["audio"]["words"],
                                np.uint32)
    same, different = bit_error_rate(prints["a"], prints["a_aac"]), bit_error_rate(prints["a"], prints["b"])
    print(f"\naudio fingerprint bit error rate: re-encode (AAC 48k, 44.1 kHz) {same:.3f}, "
          f"different clip {different:.3f}")
    assert same < 0.2 and different > 0.35


def test_fingerprint_of_too_little_audio_is_empty():
    assert fingerprint(np.zeros(100, np.float32)).size == 0


def test_bs1770_channel_weights_exclude_lfe_and_lift_surrounds():
    from vidpipe.analysis.loudness import channel_weights

    assert channel_weights(("FL", "FR", "FC", "LFE", "BL", "BR"), 6).tolist() == [1.0, 1.0, 1.0, 0.0, 1.41, 1.41]
    assert channel_weights(("FL", "FR", "FC", "LFE", "SL", "SR", "BL", "BR"), 8).tolist() == [
        1.0, 1.0, 1.0, 0.0, 1.41, 1.41, 1.41, 1.41]
    assert channel_weights((), 2).tolist() == [1.0, 1.0]  # unnamed: all count


def _ebur128(path: Path) -> dict[str, float]:
    """FFmpeg's own EBU R128 meter (the reference): integrated, range, true peak."""
    from vidpipe.ffmpeg.process import ffmpeg_exe

    err = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostats", "-i", str(path), "-af", "ebur128=peak=true",
                          "-f", "null", "-"], capture_output=True, text=True, check=True).stderr
    summary = err[err.rindex("Summary:"):]
    value = {k: float(summary.split(f"{k}:")[1].split()[0]) for k in ("I", "LRA", "Peak")}
    return value


@pytest.mark.parametrize("layout", ["5.1", "7.1", "mono"])
def test_surround_loudness_matches_ffmpeg_ebur128(tmp_path, layout):
    # A different signal per channel (a loud LFE tone that must not count, noise on a surround channel that
    # counts +1.5 dB): a stereo downmix, or equal weights, miss the reference by more than 1 LU.
    n = {"5.1": 6, "7.1": 8, "mono": 1}[layout]
    # Every source at 44.1 kHz in 1024-sample frames: `join` fed 44.1 kHz sines beside 48 kHz noise (resampled,
    # so frames of different sizes) hung once in CI.
    sine, noise = "sine=sample_rate=44100:samples_per_frame=1024:d=6", "anoisesrc=r=44100:nb_samples=1024:d=6"
    sources = [f"{sine}:f=440,volume=0.5", f"{sine}:f=550", f"{sine}:f=660", f"{sine}:f=60",
               f"{noise}:a=0.3:seed=2", f"{sine}:f=1000", f"{sine}:f=1500,volume=0.3",
               f"{noise}:a=0.1:seed=3"][:n]
    args = [a for s in sources for a in ("-f", "lavfi", "-i", s)]
    path = tmp_path / f"tone-{layout}.mka"
    inputs = "".join(f"[{i}]" for i in range(n))
    mix = f"{inputs}join=inputs={n}:channel_layout={layout}[a]" if n > 1 else "[0]anull[a]"
    run_ffmpeg([*args, "-filter_complex", mix, "-map", "[a]", "-c:a", "flac", str(path)], timeout=120)
    ours = analyse(path, ["loudness"]).metrics["loudness"]
    ref = _ebur128(path)
    print(f"\n{layout}: ours {ours['integrated_lufs']} LUFS / {ours['true_peak_dbtp']} dBTP, "
          f"ebur128 {ref['I']} LUFS / {ref['Peak']} dBTP, channels {ours['channels']}")
    assert len(ours["channels"]) == n
    assert ours["integrated_lufs"] == pytest.approx(ref["I"], abs=0.2)
    assert ours["range_lu"] == pytest.approx(ref["LRA"], abs=0.5)
    # Noise reaching 24 kHz: the 48-tap 4x oversampler (BS.1770 Annex 2) and FFmpeg's resampler differ a little.
    assert ours["true_peak_dbtp"] == pytest.approx(ref["Peak"], abs=0.5)


def test_oneshots_do_not_depend_on_how_the_audio_is_chunked():
    """The one-shot detector skips quiet stretches in bulk: whatever the chunk size (1 s, one 10 ms hop, an odd
    size), the same one-shots come out of the same bursts."""
    from vidpipe.analysis.base import AnalysisContext, AudioChunk
    from vidpipe.analysis.oneshots import OneShotAnalyzer

    rng = np.random.default_rng(3)
    n = 48_000 * 4
    envelope = np.zeros(n, np.float32)
    for start in rng.integers(0, n, 14):
        length = min(int(rng.integers(500, 40_000)), n - start)
        envelope[start:start + length] += np.exp(-np.arange(length) / rng.uniform(500, 9000)) * rng.uniform(0.005, 1)
    pcm = (envelope[:, None] * rng.standard_normal((n, 2))).astype(np.float32)
    ctx = AnalysisContext(duration=n / 48_000, has_video=False, has_audio=True, probe={})
    found = []
    for size in (48_000, 480, 12_345):
        analyzer = OneShotAnalyzer()
        for i in range(0, n, size):
            part = pcm[i:i + size]
            analyzer.on_audio(AudioChunk(t=i / 48_000, mono=part.mean(axis=1), pcm=part))
        found.append([(s.start, s.end) for s in analyzer.finish(ctx).segments])
    assert len(found[0]) >= 5
    assert found[1] == found[0] and found[2] == found[0]
