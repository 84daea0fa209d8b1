"""The pure half of the transcode stage: ladder plan, ffmpeg arguments, playlists, waveform peaks."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from vidpipe.errors import MediaDecodeError, TransientError, UnsupportedMediaError
from vidpipe.ffmpeg import hls, playlists
from vidpipe.ffmpeg.process import ffmpeg_failure, progress_fraction
from vidpipe.ffmpeg.waveform import PeakAccumulator, compute_peaks, waveform_document
from vidpipe.profiles import Profile, Rung, get_profile

STANDARD = get_profile("standard")

def _ladder_failure(returncode: int, stderr: str) -> Exception:
    """What process.run_with_progress raises when the ladder's ffmpeg fails: its inputs were opened before."""
    return ffmpeg_failure("transcode", returncode, stderr, inputs_probed=True)



def probe(width=1920, height=1080, *, audio=("eng",), fps=30.0, duration=10.0, video=True, channels=2,
          sample_rate=48000):
    streams = [{"index": 0, "type": "video", "codec": "h264", "width": width, "height": height}] if video else []
    streams += [{"index": len(streams) + i, "type": "audio", "codec": "aac", "language": lang, "channels": channels,
                 "sample_rate": sample_rate} for i, lang in enumerate(audio)]
    return {"format": "mov,mp4", "duration": duration, "has_video": video, "has_audio": bool(audio),
            "width": width if video else None, "height": height if video else None, "fps": fps if video else None,
            "rotation": 0, "streams": streams}


# --- ladder -----------------------------------------------------------------------------------------------------
def test_1080p_source_gets_the_whole_standard_ladder():
    rungs = hls.plan_ladder(probe(), STANDARD)
    assert [(r.name, r.width, r.height) for r in rungs] == [
        ("1080p", 1920, 1080), ("720p", 1280, 720), ("480p", 854, 480), ("360p", 640, 360)]


@pytest.mark.parametrize(("width", "height"), [(1280, 720), (1000, 700), (3840, 2160), (720, 1280), (641, 361)])
def test_ladder_never_upscales(width, height):
    for rung in hls.plan_ladder(probe(width, height), STANDARD):
        assert min(rung.width, rung.height) <= min(width, height)
        assert rung.width <= width and rung.height <= height


def test_720p_source_keeps_rungs_up_to_720():
    assert [r.name for r in hls.plan_ladder(probe(1280, 720), STANDARD)] == ["720p", "480p", "360p"]


def test_portrait_source_gets_portrait_renditions():
    rungs = hls.plan_ladder(probe(720, 1280), STANDARD)
    assert [(r.name, r.width, r.height) for r in rungs] == [
        ("720p", 720, 1280), ("480p", 480, 854), ("360p", 360, 640)]


def test_odd_sizes_come_out_even_with_the_aspect_kept():
    for rung in hls.plan_ladder(probe(641, 361), STANDARD):
        assert rung.width % 2 == 0 and rung.height % 2 == 0
        assert abs(rung.width / rung.height - 641 / 361) < 0.01


def test_source_smaller_than_every_rung_gets_one_source_sized_rung():
    rungs = hls.plan_ladder(probe(321, 181), STANDARD)
    assert [(r.name, r.width, r.height) for r in rungs] == [("180p", 320, 180)]
    assert rungs[0].video_kbps == 800  # the smallest rung's bitrate


def test_no_video_means_no_rungs():
    assert hls.plan_ladder(probe(video=False), STANDARD) == []


@pytest.mark.parametrize(("fps", "expected"), [
    (29.97002997, Fraction(30000, 1001)), (30, Fraction(30)), (25.0, Fraction(25)),
    ("24000/1001", Fraction(24000, 1001)),
    (23.5, Fraction(24)), (17.3, Fraction(17)), (120, Fraction(60)), (None, Fraction(30)), ("nonsense", Fraction(30))])
def test_output_fps_is_a_sensible_constant_rate(fps, expected):
    assert hls.output_fps(fps) == expected


# --- audio ------------------------------------------------------------------------------------------------------
def test_audio_tracks_named_by_language_first_is_default():
    tracks = hls.plan_audio(probe(audio=("eng", "spa", "eng", None, "../x")))
    assert [(t.name, t.language, t.default) for t in tracks] == [
        ("audio_eng", "eng", True), ("audio_spa", "spa", False), ("audio_eng_2", "eng", False),
        ("audio_und", "und", False), ("audio_und_2", "und", False)]
    assert [t.source_index for t in tracks] == [0, 1, 2, 3, 4]


def test_surround_is_downmixed_to_stereo():
    assert hls.plan_audio(probe(channels=6))[0].channels == 2


def test_modes():
    assert hls.plan_transcode(probe(), STANDARD).mode == "muxed"
    assert hls.plan_transcode(probe(audio=()), STANDARD).mode == "video_only"
    assert hls.plan_transcode(probe(audio=("eng", "spa")), STANDARD).mode == "groups"
    plan = hls.plan_transcode(probe(video=False), STANDARD)
    assert plan.mode == "audio_only" and [a.name for a in plan.audio] == ["audio"]
    assert plan.audio_kbps == STANDARD.audio_only_kbps


def test_nothing_to_transcode_is_unsupported():
    with pytest.raises(UnsupportedMediaError):
        hls.plan_transcode(probe(video=False, audio=()), STANDARD)


# --- ffmpeg arguments ---------------------------------------------------------------------------------------------
def args_for(p, profile=STANDARD):
    plan = hls.plan_transcode(p, profile)
    return plan, hls.build_ffmpeg_args(plan, ["-protocol_whitelist", "file", "-i", "file:/in/src"], Path("/w/hls"))


def test_one_input_one_split_one_scale_per_rung():
    plan, args = args_for(probe())
    assert args.count("-i") == 1
    graph = args[args.index("-filter_complex") + 1]
    assert graph.count("split=4") == 1 and graph.count("scale=") == 4
    assert "fps=30," in graph
    assert args[args.index("-var_stream_map") + 1] == (
        "v:0,a:0,name:1080p v:1,a:1,name:720p v:2,a:2,name:480p v:3,a:3,name:360p")
    assert args.count("-map") == 8  # four video outputs, the one audio track once per rung


def test_gops_aligned_and_segments_configured():
    plan, args = args_for(probe(fps=25.0))
    assert plan.keyint == 100
    for flag, value in [("-g", "100"), ("-keyint_min", "100"), ("-sc_threshold", "0"), ("-fps_mode", "cfr"),
                        ("-force_key_frames", "expr:gte(t,n_forced*4)"), ("-hls_time", "4"),
                        ("-hls_playlist_type", "vod"), ("-hls_flags", "independent_segments"),
                        ("-start_number", "1"), ("-master_pl_name", "master.m3u8"), ("-c:v", "libx264"),
                        ("-preset", "veryfast"), ("-maxrate:v:0", "5350k"), ("-bufsize:v:0", "7500k")]:
        assert args[args.index(flag) + 1] == value, flag
    assert args[args.index("-hls_segment_filename") + 1] == "/w/hls/%v/seg_%05d.ts"
    assert args[-1] == "/w/hls/%v/index.m3u8"


def test_single_rung_has_no_split():
    _, args = args_for(probe(640, 360), get_profile("preview"))
    graph = args[args.index("-filter_complex") + 1]
    assert "split" not in graph and graph.count("scale=640:360") == 1


def test_video_only_has_no_audio_encoder():
    _, args = args_for(probe(audio=()))
    assert "-c:a" not in args and "0:a:0" not in args
    assert args[args.index("-var_stream_map") + 1].split() == [
        "v:0,name:1080p", "v:1,name:720p", "v:2,name:480p", "v:3,name:360p"]


def test_two_audio_tracks_become_an_audio_group():
    _, args = args_for(probe(1280, 720, audio=("eng", "spa")))
    assert args[args.index("-var_stream_map") + 1].split() == [
        "v:0,agroup:aud,name:720p", "v:1,agroup:aud,name:480p", "v:2,agroup:aud,name:360p",
        "a:0,agroup:aud,language:eng,default:yes,name:audio_eng", "a:1,agroup:aud,language:spa,name:audio_spa"]


def test_audio_only_args():
    _, args = args_for(probe(video=False, sample_rate=96000))
    assert "-filter_complex" not in args and "-c:v" not in args
    assert args[args.index("-var_stream_map") + 1] == "a:0,name:audio"
    assert args[args.index("-ar:a:0") + 1] == "48000"


# --- playlists ----------------------------------------------------------------------------------------------------
def test_master_playlist_with_audio_group():
    text = playlists.build_master_playlist([
        hls.Variant("audio_eng", "audio", "audio_eng/index.m3u8", 140_000, "mp4a.40.2", language="eng",
                    channels=2, default=True, audio_group="aud"),
        hls.Variant("audio_spa", "audio", "audio_spa/index.m3u8", 140_000, "mp4a.40.2", language="spa",
                    channels=2, audio_group="aud"),
        hls.Variant("720p", "video", "720p/index.m3u8", 3_100_000, "avc1.64001f,mp4a.40.2", 2_900_000, 1280, 720,
                    30.0, audio_group="aud"),
    ])
    lines = text.splitlines()
    assert lines[0] == "#EXTM3U"
    media = [ln for ln in lines if ln.startswith("#EXT-X-MEDIA:")]
    assert len(media) == 2 and sum("DEFAULT=YES" in m for m in media) == 1
    assert 'LANGUAGE="eng"' in media[0] and 'LANGUAGE="spa"' in media[1]
    parsed = playlists.parse_master(text)
    assert parsed["720p/index.m3u8"]["BANDWIDTH"] == "3100000"
    assert parsed["720p/index.m3u8"]["RESOLUTION"] == "1280x720"
    assert parsed["720p/index.m3u8"]["CODECS"] == "avc1.64001f,mp4a.40.2"
    assert parsed["720p/index.m3u8"]["AUDIO"] == "aud"
    assert parsed["audio_spa/index.m3u8"]["GROUP-ID"] == "aud"


def test_audio_only_master_lists_the_audio_as_the_variant():
    text = playlists.build_master_playlist([hls.Variant("audio", "audio", "audio/index.m3u8", 150_000, "mp4a.40.2")])
    assert "#EXT-X-MEDIA" not in text
    assert playlists.parse_master(text)["audio/index.m3u8"]["CODECS"] == "mp4a.40.2"


def test_media_playlist_and_bandwidth():
    text = "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:4.000000,\nseg_00001.ts\n#EXTINF:2.5,\nseg_00002.ts\n"
    assert playlists.parse_media_playlist(text) == [("seg_00001.ts", 4.0), ("seg_00002.ts", 2.5)]
    assert playlists.bandwidths([(500_000, 4.0), (500_000, 2.0)]) == (2_000_000, 1_333_334)
    assert playlists.bandwidths([]) == (0, 0)


def test_avc1_codec_from_sps():
    data = b"\x47\x00\x00\x00\x00\x01\x09\xf0\x00\x00\x00\x01\x67\x64\x00\x1f\xac"
    assert playlists.avc1_codec_from_bytes(data) == "avc1.64001f"
    assert playlists.avc1_codec_from_bytes(b"\x00\x00\x01\x09\xf0") is None


# --- waveform -----------------------------------------------------------------------------------------------------
def test_peaks_of_a_sine_are_normalised_pairs():
    t = np.arange(48000, dtype=np.float32) / 48000
    peaks = compute_peaks(0.5 * np.sin(2 * np.pi * 50 * t), points=100)
    assert len(peaks) == 100
    assert all(-1 <= lo <= hi <= 1 for lo, hi in peaks)
    assert max(hi for _, hi in peaks) == pytest.approx(0.5, abs=0.01)


def test_peaks_streamed_in_chunks_equal_peaks_at_once():
    rng = np.random.default_rng(1)
    signal = rng.uniform(-1.2, 1.2, 10_007).astype(np.float32)
    acc = PeakAccumulator(signal.size, points=37)
    for chunk in np.array_split(signal, 13):
        acc.add(chunk)
    assert acc.peaks() == compute_peaks(signal, points=37)
    assert all(lo >= -1 and hi <= 1 for lo, hi in acc.peaks())  # clipped


def test_peaks_survive_a_wrong_length_estimate():
    acc = PeakAccumulator(100, points=10)
    acc.add(np.ones(250, dtype=np.float32))  # more than expected: the rest lands in the last bucket
    assert len(acc.peaks()) == 10
    short = PeakAccumulator(1000, points=10)
    short.add(np.zeros(150, dtype=np.float32))
    assert len(short.peaks()) == 2


def test_waveform_document():
    doc = waveform_document([(-0.5, 0.5), (-0.25, 0.75)], sample_rate=8000, samples=16000, bits=16,
                            samples_per_point=8000)
    assert doc["data"] == [-0.5, 0.5, -0.25, 0.75]
    assert doc["length"] == 2 and doc["duration"] == 2.0 and doc["sample_rate"] == 8000


def test_custom_profile_rung_naming():
    prof = Profile("t", (Rung(240, 300),), segment_seconds=2.0)
    plan = hls.plan_transcode(probe(426, 240, fps=24.0), prof)
    assert plan.keyint == 48 and plan.rungs[0].name == "240p"


def test_cover_art_is_not_the_video_mapped():
    p = probe()
    p["streams"].insert(0, {"index": 0, "type": "video", "codec": "mjpeg", "cover_art": True})
    _, args = args_for(p)
    assert args[args.index("-filter_complex") + 1].startswith("[0:v:1]")


# --- the shell's small pure helpers -------------------------------------------------------------------------------
def test_progress_lines():
    assert progress_fraction(b"out_time_us=2500000\n", 10.0) == 0.25
    assert progress_fraction(b"out_time_us=-9223372036854775807", 10.0) == 0.0
    assert progress_fraction(b"out_time_us=99000000", 10.0) == 1.0
    assert progress_fraction(b"frame=12", 10.0) is None
    assert progress_fraction(b"out_time_us=N/A", 10.0) is None


def test_failures_map_to_the_error_family():
    bad = _ladder_failure(1, "[h264 @ 0x1] error while decoding MB 1 2\nConversion failed!\n")
    assert isinstance(bad, MediaDecodeError) and "error while decoding MB" in str(bad) and not bad.retryable
    full = _ladder_failure(1, "av_interleaved_write_frame(): No space left on device\n")
    assert isinstance(full, TransientError) and full.retryable
    assert isinstance(_ladder_failure(-9, ""), TransientError)  # killed by a signal (OOM killer)
