"""Pure pieces of a chunked HLS transcode: the ffmpeg arguments of a video chunk and of the audio track, and the
media playlists (growing EVENT while chunks finish, VOD once all are in) made from the chunks' segment lists.

Timestamps: every chunk shifts its output by its own start (`-output_ts_offset`), so the segments of all chunks
form one continuous timeline and the join is a plain concatenation of playlists. Audio is encoded once for the
whole file, by its own job: one AAC encoder means one priming delay at t=0 (as in the single-job path), not one
per chunk; AAC frames (1024 samples) never line up with video frames, so audio cut per chunk would either
gap or overlap at every boundary. Audio is cheap (well over 50× real time), so this job is short even for a film.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from vidpipe.ffmpeg import hls, playlists
from vidpipe.ffmpeg.chunking import Chunk

# Every output timestamp is shifted by this much more: the muxer moves a stream whose first DTS is negative (B-frame
# delay, AAC priming) to start at 0, which would push the first chunk two frames into the second and the audio
# 21 ms late against the video. With every DTS positive nothing is moved, in every chunk and in the audio alike.
TIMELINE_OFFSET = 1.0
# Time 0 of the source in every chunk's and the audio's MPEG-TS timestamps: the offset above plus where the muxer
# puts time 0 (the X-TIMESTAMP-MAP of the subtitles; tests/integration/test_chunked_transcode.py reads it back).
TIMELINE_START_90K = round(TIMELINE_OFFSET * 90000) + hls.MPEGTS_START_90K
CHUNK_PLAYLIST = "chunk.m3u8"  # what ffmpeg writes per rendition in a chunk's work dir (read, never published)


@dataclass(frozen=True)
class SegmentEntry:
    uri: str  # relative to the rendition's directory: "seg_00012.ts"
    duration: float
    size: int  # bytes, for BANDWIDTH


def chunk_ffmpeg_args(plan: hls.TranscodePlan, chunk: Chunk, input_args: Sequence[str], out_dir: Path) -> list[str]:
    """One ffmpeg run: seek to the chunk, encode exactly its frames into every rung, no audio.

    Key frames are forced on the frames that start its segments (frame numbers, not times: exact at 29.97
    frame/s too); the HLS muxer's own cut time is half a segment so it cuts at every one of them and nowhere
    else (the GOP limit is above a segment's length)."""
    assert plan.fps is not None and plan.rungs
    n = len(plan.rungs)
    labels = "".join(f"[s{i}]" for i in range(n))
    head = f"[0:v:{plan.video_index}]" + hls.video_filters(plan) + (f",split={n}{labels}" if n > 1 else "[s0]")
    scales = [f"[s{i}]scale={r.width}:{r.height}:flags=bicubic,setsar=1,format=yuv420p[v{i}]"
              for i, r in enumerate(plan.rungs)]
    keys = "+".join(f"eq(n,{k})" for k in chunk.key_frames(plan.segment_seconds))
    args = ["-loglevel", "error", "-nostats", "-progress", "pipe:1", "-y", "-ss", f"{chunk.start:.6f}", *input_args,
            "-filter_complex", ";".join([head, *scales])]
    for i in range(n):
        args += ["-map", f"[v{i}]"]
    args += ["-an", "-sn", "-dn", "-c:v", "libx264", "-preset", plan.x264_preset, "-fps_mode", "cfr",
             "-g", str(plan.keyint * 2), "-keyint_min", str(plan.keyint), "-sc_threshold", "0",
             "-force_key_frames", f"expr:{keys}", "-frames:v", str(chunk.frames)]
    for i, r in enumerate(plan.rungs):
        rate = [f"-crf:v:{i}", f"{r.crf:g}"] if r.crf is not None else [f"-b:v:{i}", f"{r.video_kbps}k"]
        args += [*rate, f"-maxrate:v:{i}", f"{r.maxrate_kbps}k", f"-bufsize:v:{i}", f"{r.bufsize_kbps}k"]
    args += ["-map_metadata", "-1", "-map_chapters", "-1", "-output_ts_offset", f"{chunk.start + TIMELINE_OFFSET:.6f}",
             "-f", "hls", "-hls_time", f"{plan.segment_seconds / 2:g}", "-hls_playlist_type", "vod",
             "-hls_segment_type", "mpegts", "-start_number", str(chunk.first_segment),
             "-hls_segment_filename", str(out_dir / "%v" / hls.SEGMENT_PATTERN),
             "-var_stream_map", " ".join(f"v:{i},name:{r.name}" for i, r in enumerate(plan.rungs)),
             str(out_dir / "%v" / CHUNK_PLAYLIST)]
    return args


def audio_ffmpeg_args(plan: hls.TranscodePlan, input_args: Sequence[str], out_dir: Path) -> list[str]:
    """Every audio track of the plan, whole, as alternate-audio renditions on the same segment grid; and in the
    same run (one read of the source) every text subtitle track as WebVTT, as the single-job path writes it."""
    args = ["-loglevel", "error", "-nostats", "-progress", "pipe:1", "-y", *input_args]
    if not plan.audio:  # subtitles only
        return args + hls.subtitle_args(plan, out_dir)
    args += ["-vn", "-sn", "-dn"]
    for j, track in enumerate(plan.audio):  # as the single-job path: bitrate, channels, rate cap, loudness gain
        args += ["-map", f"0:a:{track.source_index}",
                 *hls.audio_args(j, plan.audio_kbps, track.channels, plan.sample_rate_cap, hls.track_filter(plan, j))]
    # EVENT: ffmpeg rewrites the playlist after every segment, so the job can publish the start while it runs.
    args += ["-c:a", "aac", "-map_metadata", "-1", "-map_chapters", "-1", "-output_ts_offset", f"{TIMELINE_OFFSET:g}",
             "-f", "hls", "-hls_time", f"{plan.segment_seconds:g}", "-hls_playlist_type", "event",
             "-hls_segment_type", "mpegts", "-start_number", "1",
             "-hls_segment_filename", str(out_dir / "%v" / hls.SEGMENT_PATTERN),
             "-var_stream_map", " ".join(f"a:{j},name:{t.name}" for j, t in enumerate(plan.audio)),
             str(out_dir / "%v" / "index.m3u8")]
    return args + hls.subtitle_args(plan, out_dir)


def media_playlist(segments: Sequence[SegmentEntry], *, complete: bool) -> str:
    """A media playlist: EVENT while chunks are still coming (players poll it and it only grows), VOD when done.

    Both start with the same lines, so a player that loaded the EVENT playlist reloads into the VOD one."""
    # RFC 8216: every EXTINF rounded to the nearest integer is at most the target (4.004 s segments: 4)
    target = max(1, round(max((s.duration for s in segments), default=1.0)))
    lines = ["#EXTM3U", "#EXT-X-VERSION:6", f"#EXT-X-TARGETDURATION:{target}", "#EXT-X-MEDIA-SEQUENCE:0",
             f"#EXT-X-PLAYLIST-TYPE:{'VOD' if complete else 'EVENT'}", "#EXT-X-INDEPENDENT-SEGMENTS"]
    for s in segments:
        lines += [f"#EXTINF:{s.duration:.6f},", s.uri]
    if complete:
        lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


def bandwidths(segments: Sequence[SegmentEntry]) -> tuple[int, int]:
    """(peak, average) bits/s as measured on the segments (HLS BANDWIDTH / AVERAGE-BANDWIDTH)."""
    return playlists.bandwidths([(s.size, s.duration) for s in segments])


def playable_prefix(chunks_done: dict[int, list[SegmentEntry]], count: int) -> list[SegmentEntry]:
    """The segments of the finished chunks 0, 1, 2, ... up to the first one still missing (a playlist never has
    a hole: an EVENT playlist only ever grows at its end)."""
    out: list[SegmentEntry] = []
    for i in range(count):
        if i not in chunks_done:
            break
        out += chunks_done[i]
    return out
