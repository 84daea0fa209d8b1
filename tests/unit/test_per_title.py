"""Per-title ladder decisions (pure) and the CRF plumbing into the one ffmpeg command."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest

from vidpipe.errors import MediaDecodeError
from vidpipe.ffmpeg import hls
from vidpipe.ffmpeg.per_title import (
    CAP_HEADROOM,
    CHECK_DISTANCE,
    MAX_CORRECTION,
    MAX_STEP,
    RungEstimate,
    Trial,
    at_rate,
    capped_rate,
    choose_rungs,
    corrected_crf,
    crf_for_rate,
    crf_for_target,
    kbps_at,
    misses_target,
    needs_check,
    needs_reencode,
    plausible_check,
    pooled_vmaf,
    refine_crf,
    second_trial_crf,
    top_crf,
    under_cap,
    vmaf_at,
    window_kbps,
)
from vidpipe.ffmpeg.vmaf import Window, sample_windows, segments_for, window_frames
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


def test_trials_whose_vmaf_rises_with_crf_do_not_send_the_estimate_the_wrong_way() -> None:
    # A 6 s rotated phone clip: noise made CRF 26.5 read above CRF 26. Their line pointed to CRF 23 for a target
    # below both (the title then went to CRF 20, VMAF 97); a typical-slope step goes up from the nearest trial.
    noisy = [Trial(26.0, 93.80, 360), Trial(26.5, 93.87, 345)]
    assert 26.5 < crf_for_target(noisy, 93.0) < 27.5
    assert crf_for_target(noisy, 95.0) < 26.0  # and down for a target above both


def test_a_third_trial_refines_the_estimate() -> None:
    trials = [Trial(22, 96.0, 3000), Trial(32, 86.0, 900), Trial(25, 92.0, 2000)]
    # Bracketed by 22 and 25 (linear: 24.25); the third point bends the curve a little: 24.19.
    assert crf_for_target(trials, 93.0) == pytest.approx(24.19, abs=0.01)
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


def test_the_ladder_keeps_a_floor_for_slow_networks() -> None:
    # Cellular animation scaled up with hard edges: the smaller pictures cost nearly as many bits at the same CRF,
    # so no lower rung saves enough; without a floor the ladder was one 1.8 Mb/s rung.
    cells = [RungEstimate("720p", 1843, 92.8), RungEstimate("480p", 1700, 55.0), RungEstimate("360p", 1600, 45.0)]
    assert choose_rungs(cells) == ["720p"]
    assert choose_rungs(cells, floor_kbps=856) == ["720p", "360p"]  # the bottom rung, capped at the fixed one's
    assert capped_rate(1600, 856, floor=True) == 856 and capped_rate(1600, 856) == round(856 * CAP_HEADROOM)
    # A ladder that already reaches below the floor, or keeps its bottom rung anyway, is left as it is.
    screen = [RungEstimate("720p", 100, 93.1), RungEstimate("480p", 73, 78.7), RungEstimate("360p", 70, 75.0)]
    assert choose_rungs(screen, floor_kbps=856) == choose_rungs(screen) == ["720p", "480p"]
    sport = [RungEstimate("720p", 3400, 93.0), RungEstimate("480p", 1700, 84.0), RungEstimate("360p", 950, 76.0)]
    assert choose_rungs(sport, floor_kbps=856) == ["720p", "480p", "360p"]
    assert capped_rate(950, 856, floor=True) == 856  # its cap: the fixed ladder's, whatever the headroom


def test_a_rung_held_by_its_cap_reports_what_it_shows_under_it() -> None:
    # The top rung's trials: bits halve every ~6 CRF steps, ~1.5 VMAF a step.
    trials = [Trial(24.0, 95.0, 1600.0), Trial(30.0, 86.0, 800.0)]
    floor = RungEstimate("360p", 1600.0, 60.0)  # its trial at CRF 24, unconstrained; the floor's cap is 800
    shown = under_cap(floor, 800, trials, 24.0)
    assert shown.kbps == 800 and shown.display_vmaf == pytest.approx(60.0 - (95.0 - 86.0))  # half the bits
    assert under_cap(floor, 2000, trials, 24.0) == floor  # a cap that does not bind changes nothing
    assert under_cap(RungEstimate("360p", 1600.0, 5.0), 100, trials, 24.0).display_vmaf == 0.0
    # A rung moved to a higher rate (a capped title's lower rungs, reported at the fixed ladder's rates) gains.
    moved = at_rate(RungEstimate("480p", 800.0, 70.0), 1600.0, trials, 30.0)
    assert moved.kbps == 1600 and moved.display_vmaf == pytest.approx(79.0)


def test_caps_stay_streamable() -> None:
    assert capped_rate(400, 5350) == 1000  # a title's peaks get room above its average ...
    assert capped_rate(4000, 5350) == round(5350 * CAP_HEADROOM)  # ... at most the headroom over the fixed rung
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


def test_the_ladder_can_read_the_analysis_decode_instead_of_the_source() -> None:
    rung = hls.PlannedRung("720p", 1280, 720, 1500, 128, crf=24.5, cap_kbps=3000)
    plan = hls.TranscodePlan(rungs=(rung,), audio=(), fps=hls.output_fps(25), segment_seconds=4,
                             x264_preset="veryfast", audio_kbps=128, duration=10)
    args = hls.build_ffmpeg_args(plan, ["-i", "in"], Path("/out"), decoded_video=(Path("/w/video.nut"), 0.04))
    assert args[args.index("-itsoffset"):args.index("-itsoffset") + 6] == [
        "-itsoffset", "0.040000", "-f", "nut", "-i", "/w/video.nut"]
    graph = args[args.index("-filter_complex") + 1]
    assert graph.startswith("[1:v:0]null") and "fps=" not in graph  # filtered once, in the analysis
    # ... into a raw file without the frames' colour description, which the ladder puts back
    def head(p: hls.TranscodePlan) -> str:
        args = hls.build_ffmpeg_args(p, ["-i", "in"], Path("/out"), decoded_video=(Path("/w/video.nut"), 0.0))
        return args[args.index("-filter_complex") + 1].split(";")[0]

    sdr = dataclasses.replace(plan, source_primaries="bt470bg", source_transfer="gamma28", source_range="pc")
    assert head(sdr) == "[1:v:0]setparams=color_primaries=bt470bg:color_trc=bt470bg:range=pc[s0]"
    hdr = dataclasses.replace(sdr, tonemap_from="smpte2084", source_primaries="bt2020", source_transfer="smpte2084")
    assert head(hdr) == "[1:v:0]setparams=color_primaries=bt709:color_trc=bt709:colorspace=bt709:range=tv[s0]"


def _probe(seconds: float, width: int, height: int, fps: int, pix_fmt: str | None = "yuv420p") -> dict:
    return {"duration": seconds, "has_video": True, "has_audio": False, "width": width, "height": height,
            "fps": fps, "rotation": 0,
            "streams": [{"index": 0, "type": "video", "codec": "h264", "width": width, "height": height,
                         "pix_fmt": pix_fmt}]}


def test_the_decode_is_shared_only_when_its_raw_frames_are_small_and_sequential() -> None:
    from vidpipe.stages.transcode_per_title import shares_decode

    def shared(probe: dict) -> bool:
        plan = hls.plan_transcode(probe, get_profile("standard"))
        return shares_decode(plan, probe, sample_windows(plan.duration), limit_bytes=1 << 30, free_bytes=1 << 40,
                             min_free_bytes=1 << 30)

    assert shared(_probe(8.0, 1280, 720, 25))  # 0.28 GB of 8-bit 4:2:0
    assert shared(_probe(30.0, 1280, 720, 25))  # 1.04 GB: fits at 1.5 bytes a pixel (not at 3, as counted before)
    assert not shared(_probe(30.0, 1280, 720, 25, "yuv420p10le"))  # 10-bit: 2 bytes a sample, 2.07 GB
    assert not shared(_probe(30.0, 1280, 720, 25, None))  # format unknown: counted at the most (6 bytes a pixel)
    assert not shared(_probe(60.0, 1920, 1080, 30))  # 5.6 GB: decoded twice instead
    assert not shared(_probe(8.0, 3840, 2160, 60))
    hdr = _probe(30.0, 1280, 720, 25, "yuv420p10le")
    hdr["streams"][0] |= {"color_transfer": "smpte2084", "color_primaries": "bt2020"}
    assert shared(hdr)  # tone-mapped too (to 8-bit 4:2:0): the ladder tags the frames it reads back as SDR BT.709


def test_the_decode_is_not_shared_when_its_scratch_file_would_leave_the_disk_below_the_ready_minimum() -> None:
    from vidpipe.stages.transcode_per_title import raw_video_bytes, reference_bytes, shares_decode

    probe = _probe(8.0, 1280, 720, 25)
    plan = hls.plan_transcode(probe, get_profile("standard"))
    kept = int(reference_bytes(plan, sample_windows(plan.duration)))
    assert kept == 1280 * 720 * 3 // 2 * 25  # the trials' reference: two half-second windows
    size = int(raw_video_bytes(plan, probe)) + kept
    assert size - kept == 1280 * 720 * 3 // 2 * 200

    def shared(free: int, *, limit: int = 1 << 30, min_free: int = 1 << 30) -> bool:
        return shares_decode(plan, probe, sample_windows(plan.duration), limit_bytes=limit, free_bytes=free,
                             min_free_bytes=min_free)

    assert shared(size + (1 << 30))  # exactly the readiness minimum left
    assert not shared(size + (1 << 30) - 1)  # one byte under it: decoded twice instead
    assert shared(size, min_free=0) and not shared(size - 1, min_free=0)
    assert not shared(1 << 40, limit=size - kept - 1) and shared(1 << 40, limit=size - kept)  # the size limit
    assert not shared(1 << 40, limit=0)  # 0: never shared


def test_the_shared_decode_limit_is_a_transcode_setting(monkeypatch, tmp_path) -> None:
    import uuid

    from vidpipe.contract import StageInput
    from vidpipe.settings import Limits, Settings
    from vidpipe.stages.transcode_per_title import decode_scratch

    monkeypatch.setenv("VIDPIPE_SHARED_DECODE_BYTES", "5000")
    assert Settings().transcode.shared_decode_bytes == 5000  # the group's variable naming: VIDPIPE_<FIELD>
    settings = Settings(data_dir=tmp_path, shared_decode_bytes=7000, ready_min_free_bytes=3)
    inp = StageInput(uuid.uuid4(), tmp_path / "in.mp4", tmp_path, get_profile("standard"), Limits())
    assert decode_scratch(dataclasses.replace(inp, settings=settings)) == (7000, 3)
    assert decode_scratch(inp) == (1 << 30, 1 << 30)  # no configuration: the defaults, not the environment


def test_windows_spread_over_the_title() -> None:
    assert [(w.start, w.seconds) for w in sample_windows(1.2)] == [(0.0, 1.2)]
    assert [w.start for w in sample_windows(8.0)] == [1.75, 5.75]  # a short title: two windows
    assert len(sample_windows(30.0)) == 3
    windows = sample_windows(600.0)
    assert len(windows) == 6 and windows[0].start > 0 and windows[-1].start < 600 - 1
    assert all(b.start - a.start > 60 for a, b in zip(windows, windows[1:], strict=False))


def test_the_second_trial_steps_towards_the_target() -> None:
    easy = Trial(26, 98.2, 300)  # far above the target: cheaper CRF next, but at most MAX_STEP away
    assert second_trial_crf(easy, 93.0, 4000) == pytest.approx(26 + 4.0)
    assert second_trial_crf(Trial(20, 100.0, 300), 85.0, 4000) == 20 + MAX_STEP
    assert second_trial_crf(Trial(26, 60.0, 2000), 93.0, 1e9) == 26 - MAX_STEP
    # Below the target and already near the ceiling rate: no use measuring a CRF no cap would allow.
    grain = Trial(26, 78.0, 2500)
    assert 26 - MAX_STEP < second_trial_crf(grain, 93.0, 4500) <= 26 - 6 * math.log2(4500 / 2500) + 0.5


def test_the_target_crf_interpolates_near_the_second_trial() -> None:
    trials = [Trial(26, 97.0, 500), Trial(29, 94.0, 380)]
    crf, reachable = top_crf(trials, 93.0, 2996)
    assert crf == 30.0 and reachable
    assert vmaf_at(trials, 30.0) == pytest.approx(93.0)
    assert kbps_at(trials, 30.0) < 380  # log-linear: fewer bits further up the CRF scale
    assert crf_for_rate(trials, 380) == pytest.approx(29.0)


def test_an_unreachable_target_spends_what_the_fixed_ladder_would() -> None:
    grain = [Trial(26, 78.0, 2500), Trial(21.5, 84.0, 4400)]  # 93 would need tens of Mb/s
    crf, reachable = top_crf(grain, 93.0, 2996)
    assert not reachable
    assert kbps_at(grain, crf) == pytest.approx(2996, rel=0.1)


def test_trial_rate_counts_keyframes_at_the_ladders_spacing() -> None:
    # Three windows joined: a keyframe at each cut. At one keyframe per 100 frames the rate is mostly P-frames.
    frames = [(40_000, True)] + [(4_000, False)] * 11 + [(40_000, True)] + [(4_000, False)] * 11
    assert window_kbps(frames, 25.0, 100) == pytest.approx((0.01 * 40_000 + 0.99 * 4_000) * 8 * 25 / 1000)
    assert window_kbps([(1000, True)], 25.0, 100) == pytest.approx(200.0)


def test_an_estimate_far_beyond_the_trials_is_measured_first() -> None:
    flat = [Trial(26, 97.0, 100), Trial(29, 96.4, 86)]  # screen content: nearly flat here, then it falls
    crf = crf_for_target(flat, 93.0)
    assert crf == 40.0 and needs_check(flat, crf)  # a straight line says 46: far from anything measured
    near = [Trial(26, 97.0, 500), Trial(29, 94.0, 380)]
    assert not needs_check(near, top_crf(near, 93.0, 2996)[0])


def test_an_estimate_deep_inside_a_wide_bracket_is_measured_too() -> None:
    # Screen content after its first check: the curve bends between 29 and 40, and an estimate 5 steps from
    # both trials missed by 1.6 VMAF (the title scored 94.6 where the trials said 93).
    screen = [Trial(26, 96.6, 96), Trial(29, 96.06, 79), Trial(40, 89.58, 63)]
    crf = crf_for_target(screen, 93.0)
    assert 31.0 < crf < 38.0 and needs_check(screen, crf)
    assert not needs_check([*screen, Trial(crf, 93.4, 70)], crf)  # measured there: nothing more to check
    assert not needs_check(screen, 30.5)  # within CHECK_DISTANCE of a trial
    # A capped title (heavy grain) whose rate-bound CRF falls inside its bracket: the cap bounds it, no trial.
    grain = [Trial(26, 76.0, 570), Trial(17, 91.0, 43_000)]
    crf, reachable = top_crf(grain, 93.0, 2996)
    assert not reachable and 17 + CHECK_DISTANCE < crf < 26 - CHECK_DISTANCE
    assert not needs_check(grain, crf, aims_at_target=False) and needs_check(grain, crf)


def test_three_trials_follow_the_bend_of_the_curve() -> None:
    # Screen content as measured: flat from 26 to 29, then falling. A straight line from 29 to 40 says 35.2; the
    # parabola through all three says later (the curve is still high at 35), and stays inside the bracket.
    screen = [Trial(26, 96.97, 101), Trial(29, 96.41, 86), Trial(40, 90.33, 67)]
    crf = crf_for_target(screen, 93.0)
    assert 36.0 < crf < 37.0
    # Points on a parabola: its root exactly.
    curve = [Trial(c, 100 - 0.02 * (c - 10) ** 2, 100) for c in (20, 30, 40)]
    assert crf_for_target(curve, 93.0) == pytest.approx(10 + math.sqrt(7 / 0.02))
    # Two trials: still the straight line.
    assert crf_for_target(screen[1:], 93.0) == pytest.approx(29 + (96.41 - 93) * 11 / (96.41 - 90.33))


def test_sampled_vmaf_frames_are_not_all_the_same_kind_of_frame() -> None:
    # x264's mini-GOP here is a P-frame and 3 B-frames: scoring every 4th (or 2nd) frame scores one kind only,
    # and on the dark scene the P-frames alone read 1.7 VMAF above the mean.
    from vidpipe.ffmpeg.vmaf import FIRST_SUBSAMPLE, LOWER_SUBSAMPLE, SUBSAMPLE

    assert all(math.gcd(every, 4) == 1 for every in (SUBSAMPLE, FIRST_SUBSAMPLE, LOWER_SUBSAMPLE))


def test_the_first_frame_is_left_out_of_a_trial_score() -> None:
    # No previous picture: VMAF's motion term is 0 there, and a moving title's first frame scores low.
    assert pooled_vmaf([(0, 84.8), (5, 94.4), (10, 94.4), (15, 92.3), (20, 93.5)]) == pytest.approx(93.65)
    assert pooled_vmaf([(0, 90.0)]) == 90.0  # a one-frame clip: that frame is all there is
    with pytest.raises(ValueError):
        pooled_vmaf([])


def test_a_rendition_that_scores_above_its_trials_is_corrected_along_the_titles_own_curve() -> None:
    # The screen recording: trials at 29 and 40 (96.4 and 90.3), a check trial at 36 (93.05); the rendition at
    # CRF 36 scored 94.08 on the windows, 1.03 above the trials' curve there.
    trials = [Trial(29.0, 96.15, 79.2), Trial(40.0, 89.79, 63.1), Trial(36.0, 93.05, 67.8)]
    crf = corrected_crf(trials, 36.0, 94.08, 93.0)
    # The curve falls ~0.81 a step between 36 and 40: 93 - 1.03 = 91.97 lies ~1.3 steps past 36.
    assert crf == 37.5
    assert corrected_crf(trials, 36.0, 93.05, 93.0) == 36.0  # on the curve: nothing to correct
    below = corrected_crf(trials, 36.0, 91.5, 93.0)  # scored low: more bits, a lower CRF
    assert below < 36.0 and below == refine_crf(below)
    # Trials that do not fall with CRF (a 2 s clip's noise): the correction still goes the way the error says.
    bumpy = [Trial(26.0, 87.0, 900.0), Trial(29.0, 89.3, 700.0), Trial(32.0, 90.0, 600.0)]
    assert corrected_crf(bumpy, 29.0, 91.8, 93.0) == refine_crf(29.0 - 1.2 / 1.3) < 29.0
    # A rendition 10 points off its trials says the curve is not the title's there: one bounded step only.
    assert corrected_crf(trials, 36.0, 83.0, 93.0) == 36.0 - MAX_CORRECTION


def test_only_a_reachable_top_rung_far_from_its_target_is_encoded_again() -> None:
    assert needs_reencode(94.1, 93.0) and needs_reencode(92.0, 93.0)
    assert not needs_reencode(93.6, 93.0) and not needs_reencode(92.5, 93.0)
    assert needs_reencode(93.3, 93.0, tolerance=0.2)


def test_the_check_decodes_only_the_segments_that_hold_a_window() -> None:
    # 4 s segments at 29.97 fps (the last one short): segment k starts at the frame its durations add up to
    segments = [(f"seg_{k}.ts", 4.004) for k in range(5)] + [("seg_5.ts", 1.5)]
    frames = window_frames(sample_windows(21.0), 30000 / 1001)  # three windows
    picked = segments_for(frames, segments, 30000 / 1001)
    assert [files for _, _, files in picked] == [["seg_0.ts"], ["seg_2.ts"], ["seg_4.ts"]]
    assert picked[1][:2] == (frames[1][0] - 240, frames[1][1] - 240)  # counted from segment 2's first frame
    # After 100 repeated lead frames, frames 10-30 are the rendition's 110-130: across segments 0 and 1
    assert segments_for([(10, 30)], segments, 30000 / 1001, lead_frames=100) == [(110, 130, ["seg_0.ts", "seg_1.ts"])]
    with pytest.raises(MediaDecodeError):
        segments_for([(700, 710)], segments, 30000 / 1001)  # past the rendition's end


def test_window_frames_number_the_windows_from_the_start() -> None:
    assert window_frames([Window(1.76, 0.5), Window(5.76, 0.5)], 25.0) == [(44, 55), (144, 155)]
    assert window_frames([Window(0.0, 0.04)], 25.0) == [(0, 0)]
    ntsc = window_frames([Window(2.0, 0.5)], 30000 / 1001)
    assert ntsc == [(60, 74)]


def test_a_rendition_check_far_from_every_trial_is_not_believed() -> None:
    assert plausible_check(94.1, 93.05) and plausible_check(88.0, 93.0)
    assert not plausible_check(14.9, 92.7)  # frames paired with the wrong ones, not an encode 78 points off
