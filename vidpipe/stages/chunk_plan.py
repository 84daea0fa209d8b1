"""What the stages of a chunked transcode share: their names, the plan and segment lists as JSON for job payloads,
where their files go, and the decision (in the transcode job) to chunk a long video. vidpipe.jobs.chunked queues
the parts; vidpipe.stages.transcode_chunks / transcode_audio / transcode_join are the parts."""

from __future__ import annotations

import dataclasses
from fractions import Fraction
from pathlib import Path
from typing import Any

from vidpipe.contract import StageInput, StageResult
from vidpipe.ffmpeg import chunking, hls, playlists
from vidpipe.ffmpeg.chunk_hls import SegmentEntry
from vidpipe.settings import TranscodeSettings

CHUNK, AUDIO, JOIN = "transcode_chunk", "transcode_audio", "transcode_join"
DECIDE = "transcode_decide"  # the per-title trials of a long video, beside its first chunk
PLAYLIST_TYPE = "application/vnd.apple.mpegurl"
SEGMENT_TYPE = "video/mp2t"


# --- the plan travels in job payloads (JSON) ---------------------------------------------------------------
def plan_to_json(plan: hls.TranscodePlan) -> dict[str, Any]:
    doc = dataclasses.asdict(plan)
    doc["fps"] = str(plan.fps) if plan.fps is not None else None
    return doc


def plan_from_json(doc: dict[str, Any]) -> hls.TranscodePlan:
    return hls.TranscodePlan(**{
        **doc, "fps": Fraction(doc["fps"]) if doc.get("fps") else None,
        "rungs": tuple(hls.PlannedRung(**r) for r in doc["rungs"]),
        "audio": tuple(hls.AudioTrack(**a) for a in doc["audio"]),
        "subtitles": tuple(hls.SubtitleTrack(**t) for t in doc.get("subtitles") or ()),
        "audio_filters": tuple(doc.get("audio_filters") or ())})


def chunk_to_json(c: chunking.Chunk) -> dict[str, Any]:
    return {"index": c.index, "start_frame": c.start_frame, "end_frame": c.end_frame,
            "first_segment": c.first_segment, "segments": c.segments, "fps": str(c.fps)}


def chunk_from_json(doc: dict[str, Any]) -> chunking.Chunk:
    return chunking.Chunk(**{**doc, "fps": Fraction(doc["fps"])})


def entries_to_json(entries: list[SegmentEntry]) -> list[list[Any]]:
    return [[e.uri, e.duration, e.size] for e in entries]


def entries_from_json(rows: list[list[Any]]) -> list[SegmentEntry]:
    return [SegmentEntry(str(u), float(d), int(s)) for u, d, s in rows]


def run_dir(run: int) -> str:
    return f"hls/r{run}"


# --- deciding, in the transcode job ----------------------------------------------------------------------
def chunk_settings(inp: StageInput) -> tuple[float | None, float]:
    """(threshold, chunk seconds): the profile's when it sets them, else the configuration's; the threshold is
    None (never chunk) for a profile with chunking "never"."""
    st = inp.settings.transcode if inp.settings is not None else TranscodeSettings()
    threshold = inp.profile.chunk_threshold_seconds
    if inp.profile.chunking == "never":
        threshold = None
    elif threshold is None:
        threshold = st.chunk_threshold_seconds if inp.settings is not None else None
    return threshold, inp.profile.chunk_seconds or st.chunk_seconds


def wanted(plan: hls.TranscodePlan, inp: StageInput) -> bool:
    threshold, _ = chunk_settings(inp)
    return chunking.should_chunk(plan.duration, bool(plan.rungs), threshold)


def planned(plan: hls.TranscodePlan, inp: StageInput, metadata: dict[str, Any], *, decide: bool = False
            ) -> StageResult:
    """The transcode job's result for a long video: no files, the chunk plan (queued by `after_transcode`)."""
    assert plan.fps is not None  # a plan with rungs has an output rate (chunk_plan.wanted needs rungs)
    _, size = chunk_settings(inp)
    first = (inp.settings.transcode if inp.settings is not None else TranscodeSettings()).first_chunk_seconds
    chunks = chunking.plan_chunks(plan.duration, plan.fps, plan.segment_seconds, max(size, plan.segment_seconds),
                                  first_chunk_seconds=max(first, plan.segment_seconds))
    metadata = metadata | {"audio_mode": "groups" if plan.audio else "video_only",
                           "chunked": {"plan": plan_to_json(plan), "chunks": [chunk_to_json(c) for c in chunks],
                                       "decide": decide}}
    inp.progress(1.0)
    return StageResult(metadata=metadata)


def read_entries(directory: Path, playlist: str) -> list[SegmentEntry]:
    text = (directory / playlist).read_text() if (directory / playlist).is_file() else ""
    return [SegmentEntry(uri, duration, (directory / uri).stat().st_size)
            for uri, duration in playlists.parse_media_playlist(text)]
