"""Per-title ladder decisions (pure) and the CRF plumbing into the one ffmpeg command."""

from __future__ import annotations

from pathlib import Path

import pytest

from vidpipe.ffmpeg import hls
from vidpipe.ffmpeg.per_title import (
    RungEstimate,
    Trial,
    capped_rate,
    choose_rungs,
    crf_for_target,
    misses_target,
    refine_crf,
)
from vidpipe.ffmpeg.vmaf import sample_windows
from vidpipe.profiles import get_profile


def test_crf_is_interpolated_between_the_trials_that_bracket_the_target() -> None:
    trials = [Trial(22, 96.0, 3000), Trial(32, 86.0, 900)]
    assert crf_for_target(trials, 93.0) == pytest.approx(25.0)
    assert crf_for_target(trials, 90.0) == pytest.approx(28.0)


def test_crf_extrapolates_outside_the_trials_but_stays_in_range() -> None:
    easy = [Trial(22, 99.0, 300), Trial(32, 97.5, 120)]  # a slide deck: still excellent at CRF 32
    assert crf_for_target(easy, 93.0) == 40.0  # clamped: the cheapest setting we allow
    hard = [Trial(22, 80.0, 9000), Trial(32, 65.0, 4000)]  # film grain: below target even at CRF 22
    assert 14.0 <= crf_for_target(hard, 93.0) < 22


def test_a_third_trial_refines_the_estimate() -> None:
    trials = [Trial(22, 96.0, 3000), Trial(32, 86.0, 900), Trial(25, 92.0, 2000)]
    assert crf_for_target(trials, 93.0) == pytest.approx(24.25)
    assert refine_crf(24.25) == 24.0 and refine_crf(24.3) == 24.5


def test_static_content_keeps_fewer_rungs_than_busy_content() -> None:
    # Slides: the lower rungs look nearly the same on a big screen and hardly save bits.
    slides = [RungEstimate("1080p", 180, 95.0), RungEstimate("720p", 150, 94.2), RungEstimate("480p", 120, 92.5),
              RungEstimate("360p", 90, 88.0)]
    sport = [RungEstimate("1080p", 6200, 93.0), RungEstimate("720p", 3400, 88.0), RungEstimate("480p", 1700, 80.0),
             RungEstimate("360p", 950, 72.0)]
    assert choose_rungs(slides) == ["1080p", "480p", "360p"]  # 720p: looks like 1080p and saves 17 %
    assert choose_rungs(sport) == ["1080p", "720p", "480p", "360p"]
    assert choose_rungs([]) == []


def test_caps_never_exceed_the_fixed_ladder() -> None:
    assert capped_rate(400, 5350) == 1000  # a title's peaks get room above its average ...
    assert capped_rate(4000, 5350) == 5350  # ... but never more than the fixed rung allows
    assert misses_target(91.5, 93.0) and not misses_target(92.2, 93.0) and not misses_target(None, 93.0)


def test_an_upscaled_source_gets_no_higher_rung() -> None:
    probe = {"duration": 10.0, "has_video": True, "has_audio": False, "width": 1280, "height": 720, "fps": 25,
             "rotation": 0, "streams": [{"index": 0, "type": "video", "codec": "h264", "width": 1280, "height": 720}]}
    plan = hls.plan_transcode(probe, get_profile("standard"))
    assert [r.name for r in plan.rungs] == ["720p", "480p", "360p"]


def test_crf_rungs_are_encoded_at_constant_quality_with_a_cap() -> None:
    rung = hls.PlannedRung("720p", 1280, 720, 1500, 128, crf=24.5, cap_kbps=3000)
    plan = hls.TranscodePlan(rungs=(rung,), audio=(), fps=None or hls.output_fps(25), segment_seconds=4,
                             x264_preset="veryfast", audio_kbps=128, duration=10)
    args = hls.build_ffmpeg_args(plan, ["-i", "in"], Path("/out"))
    assert args[args.index("-crf:v:0") + 1] == "24.5" and "-b:v:0" not in args
    assert args[args.index("-maxrate:v:0") + 1] == "3000k" and args[args.index("-bufsize:v:0") + 1] == "6000k"


def test_windows_spread_over_the_title() -> None:
    assert [(w.start, w.seconds) for w in sample_windows(2.0)] == [(0.0, 2.0)]
    windows = sample_windows(600.0)
    assert len(windows) == 6 and windows[0].start > 0 and windows[-1].start < 600 - 1
    assert all(b.start - a.start > 60 for a, b in zip(windows, windows[1:], strict=False))
