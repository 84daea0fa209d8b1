"""Loudness-normalised renditions: a profile's target reaches the HLS audio (measured on the segments)."""

from __future__ import annotations

import dataclasses
import uuid
from pathlib import Path

import pytest

from vidpipe.analysis import registry
from vidpipe.analysis.normalize import plan_gain
from vidpipe.analysis.pipeline import run_pass
from vidpipe.contract import StageInput
from vidpipe.ffmpeg import samples
from vidpipe.ffmpeg.probe import probe_file
from vidpipe.profiles import Profile, Rung
from vidpipe.settings import Limits
from vidpipe.stages import transcode

PROFILE = Profile("loud", (Rung(360, 500, 96),), segment_seconds=1.0, x264_preset="ultrafast")


def _loudness(path: Path) -> dict:
    return run_pass(path, probe_file(path, Limits()), registry.build(["loudness"])).metrics["loudness"]


def _rendition_audio(work: Path, name: str) -> Path:
    """The rendition's MPEG-TS segments joined (TS concatenates): what a player hears."""
    joined = work / f"{name}.ts"
    joined.write_bytes(b"".join(p.read_bytes() for p in sorted((work / "hls" / name).glob("*.ts"))))
    return joined


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    return samples.make_video(tmp_path_factory.mktemp("loud") / "src.mp4", width=640, height=360, seconds=6,
                              scene_seconds=2)


@pytest.mark.parametrize("target", [-30.0, -16.0])
def test_audio_rendition_reaches_the_profile_target(source, tmp_path, target):
    before = _loudness(source)["integrated_lufs"]
    assert abs(before - target) > 2  # the test means something: the source is elsewhere
    profile = dataclasses.replace(PROFILE, loudness_target_lufs=target)
    result = transcode.run(StageInput(uuid.uuid4(), source, tmp_path, profile, Limits()))
    done = result.metadata["loudness_normalisation"]
    assert done[0]["measured_lufs"] == pytest.approx(before, abs=0.05)
    after = _loudness(_rendition_audio(tmp_path, "360p"))
    print(f"\nsource {before} LUFS -> target {target}: rendition {after['integrated_lufs']} LUFS, "
          f"true peak {after['true_peak_dbtp']} dBTP, gain {done[0]['gain_db']} dB")
    assert after["integrated_lufs"] == pytest.approx(target, abs=0.5)
    assert after["true_peak_dbtp"] <= -1.0 + 0.3


def test_without_a_target_the_level_is_untouched(source, tmp_path):
    result = transcode.run(StageInput(uuid.uuid4(), source, tmp_path, PROFILE, Limits()))
    assert "loudness_normalisation" not in result.metadata
    assert _loudness(_rendition_audio(tmp_path, "360p"))["integrated_lufs"] == pytest.approx(
        _loudness(source)["integrated_lufs"], abs=0.5)


def test_gain_plan():
    assert plan_gain(-30.0, -12.0, -23.0).filter == "volume=7.00dB"  # peak -5 after the gain: no limiter
    loud = plan_gain(-30.0, -4.0, -16.0)  # +14 dB would put the peak at +10 dBTP
    assert loud.limited and loud.filter.startswith("volume=14.00dB,alimiter=limit=0.8414")
    assert plan_gain(None, None, -23.0).filter is None  # silence stays silent
