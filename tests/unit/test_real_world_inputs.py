"""Real encoder output the probe and the plan must handle (issue: every file people upload plays).

The files come from the format corpus (tests/formats/corpus.py): each encoder at its defaults."""

from __future__ import annotations

from pathlib import Path

import av
import pytest

from tests.formats import corpus
from tests.media_cache import default_cache_dir
from vidpipe.ffmpeg import frames, hls, playlists
from vidpipe.ffmpeg.probe import parse_mastering_display, probe_file
from vidpipe.profiles import get_profile
from vidpipe.settings import Limits

LIMITS = Limits()


def _file(name: str) -> Path:
    return corpus.build(corpus.SAMPLES_BY_NAME[name], default_cache_dir())


@pytest.mark.parametrize("name", ["h264_default", "hevc_default", "av1_svt", "h264_open_gop", "h264_edit_list",
                                  "h264_10bit", "h264_444", "mediarecorder_webm", "h264_interlaced"])
def test_probe_finds_the_first_picture_of_default_encodes(name: str) -> None:
    # ffmpeg's default libx264: a key frame every 250 frames and B-frames; the picture comes out only when the
    # decoder is flushed. A fixed packet budget used to call these files corrupt.
    info = probe_file(_file(name), LIMITS)
    assert info["has_video"] and info["duration"] > 5


@pytest.mark.parametrize("name", ["wmv_asf", "wma_asf", "aiff", "ac3_raw", "eac3_raw"])
def test_more_containers_are_accepted(name: str) -> None:
    assert probe_file(_file(name), LIMITS)["has_audio"]


def test_probe_records_interlacing_and_hdr_metadata() -> None:
    interlaced = probe_file(_file("mpeg2_broadcast"), LIMITS)
    assert interlaced["interlaced"] is True
    assert next(s for s in interlaced["streams"] if s["type"] == "video")["field_order"] == "tt"
    hdr = probe_file(_file("hdr10_hevc"), LIMITS)
    video = next(s for s in hdr["streams"] if s["type"] == "video")
    assert hdr["hdr"] == "HDR10" and video["color_primaries"] == "bt2020"
    assert (video["max_cll"], video["max_fall"]) == (1000, 400)
    assert video["mastering_display"]["green"] == [0.265, 0.69]
    assert probe_file(_file("hlg_hevc"), LIMITS)["hdr"] == "HLG"
    assert probe_file(_file("h264_default"), LIMITS)["interlaced"] is False


def test_parse_mastering_display_ignores_short_data() -> None:
    assert parse_mastering_display(b"\x00" * 10) is None


@pytest.mark.parametrize("name", ["h264_ts", "h264_default", "mpeg2_ps"])
def test_key_frame_at_the_start_of_an_unindexed_long_gop_stream(name: str) -> None:
    # TS/PS have no index, and a time seek to the start lands after the first key frame; with B-frames the
    # decoder holds the picture back until it is drained.
    with av.open(str(_file(name))) as container:
        stream = container.streams.video[0]
        frames.prepare_keyframe_decoding(stream)
        for seconds in (0.0, 0.6, 3.0):
            frame = frames.keyframe_at(container, stream, seconds)
            assert frame is not None and frames.frame_time(frame, stream) <= seconds + 0.25


def _probe_with(video: dict, streams: list[dict] | None = None, **top) -> dict:
    base = {"index": 0, "type": "video", "codec": "h264", "width": 1920, "height": 1080} | video
    return {"duration": 10.0, "has_video": True, "has_audio": False, "width": 1920, "height": 1080, "fps": 25,
            "rotation": 0, "streams": [base, *(streams or [])]} | top


def test_plan_deinterlaces_and_tone_maps_once_before_the_split() -> None:
    probe = _probe_with({"color_transfer": "smpte2084", "color_primaries": "bt2020", "color_matrix": "bt2020nc"},
                        interlaced=True)
    plan = hls.plan_transcode(probe, get_profile("standard"))
    assert plan.deinterlace and plan.tonemap_from == "smpte2084"
    args = hls.build_ffmpeg_args(plan, ["-i", "in"], Path("/out"))
    graph = args[args.index("-filter_complex") + 1]
    head = graph.split(";")[0]
    assert head.index("bwdif") < head.index("fps=") < head.index("tonemap") < head.index("split=")
    assert "tin=smpte2084:pin=bt2020:min=bt2020nc" in head
    # The tone map tags its frames SDR BT.709 and the encoder writes what the frames say (the HDR samples of
    # tests/formats check the rungs' tags): no encoder options that could disagree with the pictures.
    assert "zscale=t=bt709:m=bt709" in head and "-color_trc" not in args


def test_sdr_progressive_plan_adds_no_filters() -> None:
    plan = hls.plan_transcode(_probe_with({"color_transfer": "bt709"}), get_profile("standard"))
    args = hls.build_ffmpeg_args(plan, ["-i", "in"], Path("/out"))
    graph = args[args.index("-filter_complex") + 1]
    assert "bwdif" not in graph and "tonemap" not in graph and "-color_trc" not in args


def test_text_subtitles_become_webvtt_outputs_and_bitmap_ones_are_left_out() -> None:
    subs = [{"index": 1, "type": "subtitle", "codec": "subrip", "language": "eng"},
            {"index": 2, "type": "subtitle", "codec": "hdmv_pgs_subtitle", "language": "deu"},
            {"index": 3, "type": "subtitle", "codec": "ass", "language": "eng", "title": "SDH"}]
    plan = hls.plan_transcode(_probe_with({}, subs), get_profile("standard"))
    assert [(t.source_index, t.name, t.language) for t in plan.subtitles] == [(0, "subs_eng", "eng"),
                                                                            (2, "subs_eng_2", "eng")]
    args = hls.build_ffmpeg_args(plan, ["-i", "in"], Path("/out"))
    assert args[-1] == "/out/subs_eng_2/subtitles.vtt" and "0:s:2" in args


def test_master_playlist_offers_subtitles_with_every_rung() -> None:
    variants = [hls.Variant("720p", "video", "720p/index.m3u8", 3_000_000, "avc1.64001f,mp4a.40.2",
                            width=1280, height=720, subtitle_group="subs"),
                hls.Variant("subs_fra", "subtitles", "subs_fra/index.m3u8", 0, "wvtt", language="fra",
                            subtitle_group="subs", name_shown="Français")]
    master = playlists.build_master_playlist(variants)
    assert ('#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs",NAME="Français",LANGUAGE="fra",DEFAULT=NO,AUTOSELECT=YES,'
            'FORCED=NO,URI="subs_fra/index.m3u8"') in master
    assert 'SUBTITLES="subs"' in master.splitlines()[-2]


def test_subtitle_playlist_and_timestamp_map() -> None:
    playlist = playlists.subtitle_playlist(6.02)
    assert "#EXT-X-TARGETDURATION:7" in playlist and "#EXTINF:6.020," in playlist and "#EXT-X-ENDLIST" in playlist
    vtt = playlists.with_timestamp_map("WEBVTT\n\n00:00.500 --> 00:01.000\nHi\n", 126000)
    assert vtt.splitlines()[:3] == ["WEBVTT", "X-TIMESTAMP-MAP=MPEGTS:126000,LOCAL:00:00:00.000", ""]
