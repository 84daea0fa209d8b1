"""Video analyzers with known truth: black segments, perceptual hashes stable under re-encode."""

from __future__ import annotations

import numpy as np
import pytest

from vidpipe.analysis import registry
from vidpipe.analysis.black import is_black
from vidpipe.analysis.fingerprints import hamming, mean_hamming, sample_interval
from vidpipe.analysis.pipeline import run_pass
from vidpipe.ffmpeg.probe import probe_file
from vidpipe.settings import Limits


def analyse(path, names):
    return run_pass(path, probe_file(path, Limits()), registry.build(names))


def test_black_segment_at_its_known_range(media):
    result = analyse(media.get("black_middle"), ["black"])  # black from 1.0 s to 2.5 s, 25 fps
    got = [(s.start, s.end) for s in result.analysis.segments_of("black")]
    assert got == [(pytest.approx(1.0, abs=0.041), pytest.approx(2.5, abs=0.041))]


def test_is_black_rule():
    frame = np.zeros((64, 64, 3), np.uint8)
    assert is_black(frame)
    frame[:16] = 200  # a quarter bright: not black
    assert not is_black(frame)


def test_sample_interval_gives_at_least_16_hashes():
    assert sample_interval(60.0) == 1.0
    assert sample_interval(3.0) == pytest.approx(3.0 / 16)


def test_phash_is_stable_under_reencode_and_differs_between_clips(media):
    prints = {name: analyse(media.get(name), ["fingerprints"]).understanding.fingerprints
              for name in ("small_360p", "small_360p_reencoded", "other_sources")}
    original = prints["small_360p"]["phash"]
    assert len(original["hashes"]) >= 16 and original["duration"] == pytest.approx(3.0, abs=0.05)
    assert set(prints["small_360p"]) == {"phash", "dhash"}
    same = mean_hamming(original["hashes"], prints["small_360p_reencoded"]["phash"]["hashes"])
    different = mean_hamming(original["hashes"], prints["other_sources"]["phash"]["hashes"])
    same_d = mean_hamming(prints["small_360p"]["dhash"]["hashes"], prints["small_360p_reencoded"]["dhash"]["hashes"])
    print(f"\npHash mean Hamming distance (64 bits): re-encode 640x360 -> 320x180 crf 34: {same:.2f}, "
          f"different clip: {different:.2f}; dHash re-encode {same_d:.2f}")
    assert same <= 6 and different >= 20


def test_hamming():
    assert hamming("ff00", "0f00") == 4
