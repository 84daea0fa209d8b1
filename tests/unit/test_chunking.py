"""Chunk planning: whole segments on the single-job path's grid, frame-exact, contiguous, numbered on."""

from __future__ import annotations

from fractions import Fraction

import pytest

from vidpipe.errors import InputError
from vidpipe.ffmpeg.chunking import boundary_frame, plan_chunks, segment_count, should_chunk, total_frames

NTSC = Fraction(30000, 1001)


@pytest.mark.parametrize("fps", [Fraction(25), Fraction(30), NTSC, Fraction(24000, 1001), Fraction(60)])
@pytest.mark.parametrize("duration", [61.0, 600.0, 7200.0, 599.97])
def test_chunks_tile_the_whole_encode_on_the_segment_grid(fps, duration):
    chunks = plan_chunks(duration, fps, 4.0, 60.0, first_chunk_seconds=8.0)
    frames = total_frames(duration, fps)
    assert chunks[0].start_frame == 0 and chunks[-1].end_frame == frames
    for a, b in zip(chunks, chunks[1:], strict=False):
        assert a.end_frame == b.start_frame  # nothing lost, nothing twice
        assert b.first_segment == a.first_segment + a.segments  # numbering continues
        # a chunk starts where the single-job encode would have put a segment's key frame
        assert b.start_frame == boundary_frame(b.first_segment - 1, 4.0, fps)
    assert sum(c.segments for c in chunks) == segment_count(frames, 4.0, fps)
    assert abs(sum(c.seconds for c in chunks) - duration) <= 0.5 / float(fps)
    assert chunks[0].segments == 2  # the short first chunk: playable early
    assert all(c.segments >= 1 for c in chunks)


def test_key_frames_inside_a_chunk_are_its_segment_starts():
    chunks = plan_chunks(100.0, NTSC, 4.0, 20.0)
    c = chunks[1]
    keys = c.key_frames(4.0)
    assert keys[0] == 0 and len(keys) == c.segments
    # 4 s at 29.97 frame/s is 119.88 frames: segments alternate between 120 and 119 frames, never drift
    steps = {b - a for a, b in zip(keys, keys[1:], strict=False)}
    assert steps <= {119, 120}
    assert [c.start_frame + k for k in keys] == [boundary_frame(s - 1, 4.0, NTSC)
                                                 for s in range(c.first_segment, c.first_segment + c.segments)]


def test_sizes_follow_the_settings_and_a_tiny_tail_is_folded_in():
    chunks = plan_chunks(600.0, Fraction(25), 4.0, 60.0)
    assert [c.segments for c in chunks] == [15] * 10
    tail = plan_chunks(604.0, Fraction(25), 4.0, 60.0)  # one extra segment: not a job of its own
    assert len(tail) == 10 and tail[-1].segments == 16
    assert len(plan_chunks(630.0, Fraction(25), 4.0, 60.0)) == 11  # half a chunk is


def test_source_key_frames_move_a_boundary_to_the_cheapest_seek():
    # A long-GOP source with key frames every 10 s: a boundary at 60 s (on one) beats 64 s or 56 s.
    key_times = [10.0 * i for i in range(100)]
    plain = plan_chunks(300.0, Fraction(25), 4.0, 64.0, first_chunk_seconds=8.0)
    nudged = plan_chunks(300.0, Fraction(25), 4.0, 64.0, first_chunk_seconds=8.0, key_times=key_times)
    assert plain[2].start != nudged[2].start
    assert all(min(abs(c.start - t) for t in key_times) == 0 for c in nudged[2:])
    assert nudged[1].start == plain[1].start == 8.0  # the first boundary stays


def test_bad_settings_are_refused_with_a_reason():
    with pytest.raises(InputError, match="at least one segment"):
        plan_chunks(100.0, Fraction(25), 4.0, 2.0)
    with pytest.raises(InputError, match="duration"):
        plan_chunks(0.0, Fraction(25), 4.0, 60.0)


def test_only_long_videos_are_chunked():
    assert should_chunk(600.0, True, 300.0)
    assert not should_chunk(120.0, True, 300.0)
    assert not should_chunk(7200.0, False, 300.0)  # audio only: one cheap job
    assert not should_chunk(7200.0, True, None)


# --- the chunk's ffmpeg arguments and the playlists made from chunks (vidpipe.ffmpeg.chunk_hls) -------------
def _plan(fps=NTSC):
    from vidpipe.ffmpeg import hls

    return hls.TranscodePlan(rungs=(hls.PlannedRung("720p", 1280, 720, 2800, 128),
                                    hls.PlannedRung("360p", 640, 360, 800, 96)),
                             audio=(hls.AudioTrack(0, "audio_eng", "eng", 2, True),), fps=fps, segment_seconds=4.0,
                             x264_preset="veryfast", audio_kbps=128, duration=100.0)


def test_a_chunk_encodes_exactly_its_frames_on_the_shared_timeline(tmp_path):
    from vidpipe.ffmpeg.chunk_hls import TIMELINE_OFFSET, chunk_ffmpeg_args

    chunk = plan_chunks(100.0, NTSC, 4.0, 20.0)[1]
    args = chunk_ffmpeg_args(_plan(), chunk, ["-i", "file:/src.mp4"], tmp_path)
    value = dict(zip(args, args[1:], strict=False))
    assert args.index("-ss") < args.index("-i")  # input seek: decodes from the key frame before, output exact
    assert float(value["-ss"]) == pytest.approx(chunk.start, abs=1e-6)
    assert value["-frames:v"] == str(chunk.frames) and value["-start_number"] == str(chunk.first_segment)
    assert float(value["-output_ts_offset"]) == pytest.approx(chunk.start + TIMELINE_OFFSET, abs=1e-6)
    assert value["-force_key_frames"] == "expr:" + "+".join(f"eq(n,{k})" for k in chunk.key_frames(4.0))
    assert "-an" in args and value["-var_stream_map"] == "v:0,name:720p v:1,name:360p"


@pytest.mark.parametrize("audio", [True, False])
def test_the_audio_job_writes_the_subtitles_in_the_same_run(tmp_path, audio):
    import dataclasses

    from vidpipe.ffmpeg import hls, playlists
    from vidpipe.ffmpeg.chunk_hls import audio_ffmpeg_args

    subs = (hls.SubtitleTrack(0, "subs_eng", "eng"), hls.SubtitleTrack(2, "subs_fra", "fra", "Français"))
    plan = dataclasses.replace(_plan(), subtitles=subs, audio=_plan().audio if audio else ())
    args = audio_ffmpeg_args(plan, ["-i", "file:/src.mp4"], tmp_path)
    assert args.count("-i") == 1  # one read of the source for the audio and every subtitle track
    assert args[-len(hls.subtitle_args(plan, tmp_path)):] == hls.subtitle_args(plan, tmp_path)
    assert args[-1] == str(tmp_path / "subs_fra" / hls.SUBTITLE_FILE) and "0:s:2" in args
    assert ("-var_stream_map" in args) == audio  # no audio: no HLS output at all

    variants = playlists.with_subtitles([hls.Variant("360p", "video", "r7/360p/index.m3u8", 1, "avc1")], plan, "r7/")
    assert [(v.kind, v.uri, v.subtitle_group) for v in variants] == [
        ("video", "r7/360p/index.m3u8", "subs"), ("subtitles", "r7/subs_eng/index.m3u8", "subs"),
        ("subtitles", "r7/subs_fra/index.m3u8", "subs")]
    assert variants[2].name_shown == "Français" and variants[1].name_shown == "eng"
    plain = [hls.Variant("360p", "video", "r7/360p/index.m3u8", 1, "avc1")]
    assert playlists.with_subtitles(plain, _plan()) == plain  # no subtitle tracks: no SUBTITLES group on the rungs


def test_playlists_grow_without_holes_and_end_as_vod():
    from vidpipe.ffmpeg.chunk_hls import SegmentEntry, media_playlist, playable_prefix

    seg = [SegmentEntry(f"seg_{n:05d}.ts", 4.004, 1000) for n in range(1, 7)]
    done = {0: seg[:2], 2: seg[4:]}  # chunk 1 still encoding
    assert playable_prefix(done, 3) == seg[:2]  # never past a hole
    assert playable_prefix(done | {1: seg[2:4]}, 3) == seg
    event = media_playlist(seg[:2], complete=False)
    assert "#EXT-X-PLAYLIST-TYPE:EVENT" in event and "#EXT-X-ENDLIST" not in event
    vod = media_playlist(seg, complete=True)
    assert "#EXT-X-PLAYLIST-TYPE:VOD" in vod and vod.rstrip().endswith("#EXT-X-ENDLIST")
    assert vod.startswith(event.split("#EXTINF")[0].replace("EVENT", "VOD"))  # same header: a reload just grows
    assert "#EXT-X-TARGETDURATION:4\n" in vod  # 4.004 s rounds to 4 (HLS allows half a second over)


def test_chunk_settings_are_a_group_read_from_the_same_variables(monkeypatch):
    from vidpipe.settings import Settings

    for name, value in {"CHUNK_THRESHOLD_SECONDS": "90", "CHUNK_SECONDS": "30", "FIRST_CHUNK_SECONDS": "4",
                        "FIRST_CHUNKS": "3", "FIRST_CHUNK_PRIORITY": "7"}.items():
        monkeypatch.setenv(f"VIDPIPE_{name}", value)
    t = Settings().transcode
    assert (t.chunk_threshold_seconds, t.chunk_seconds, t.first_chunk_seconds, t.first_chunks,
            t.first_chunk_priority) == (90.0, 30.0, 4.0, 3, 7)
    # the flat keywords still work, over the environment for the names given, the rest from it
    flat = Settings(chunk_seconds=12, first_chunks=0)
    assert (flat.transcode.chunk_seconds, flat.transcode.first_chunks, flat.transcode.chunk_threshold_seconds) == (
        12.0, 0, 90.0)
    assert Settings().updated(first_chunk_priority=2).transcode.first_chunk_priority == 2
    assert not hasattr(Settings(), "chunk_seconds")  # one place to read it


def test_a_never_chunk_profile_keeps_the_single_job_whatever_the_duration(tmp_path):
    import dataclasses
    import uuid

    from vidpipe.contract import StageInput
    from vidpipe.ffmpeg import hls
    from vidpipe.profiles import PROFILES
    from vidpipe.settings import Limits, Settings
    from vidpipe.stages import chunk_plan

    settings = Settings(chunk_threshold_seconds=300, chunk_seconds=60)
    plan = hls.TranscodePlan(rungs=(hls.PlannedRung("360p", 640, 360, 800, 96),), audio=(), fps=Fraction(25),
                             segment_seconds=4.0, x264_preset="veryfast", audio_kbps=128, duration=7200.0)

    def inp(**profile: object) -> StageInput:
        return StageInput(asset_id=uuid.uuid4(), source_path=tmp_path / "x", work_dir=tmp_path,
                          profile=dataclasses.replace(PROFILES["preview"], **profile), limits=Limits(),
                          settings=settings)

    assert chunk_plan.wanted(plan, inp()) and chunk_plan.chunk_settings(inp()) == (300.0, 60.0)  # auto: as before
    assert chunk_plan.wanted(plan, inp(chunking="auto", chunk_threshold_seconds=30.0))
    for never in (inp(chunking="never"), inp(chunking="never", chunk_threshold_seconds=30.0)):
        assert chunk_plan.chunk_settings(never)[0] is None and not chunk_plan.wanted(plan, never)
