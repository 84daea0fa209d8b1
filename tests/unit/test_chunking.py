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
