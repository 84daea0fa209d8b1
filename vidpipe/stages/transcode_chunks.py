"""Chunked transcode of long videos: the transcode job plans, chunk jobs encode, a join job writes the playlists.

- `transcode` (vidpipe.stages.transcode) decides the ladder as always (per-title included); for a long video it
  then only plans the chunks (vidpipe.media.chunking) and its success hook `after_transcode` queues one
  `transcode_chunk` job per chunk plus one `transcode_audio` job, in the transaction that records its success.
- `transcode_chunk` (here, `run`) encodes its frames into every rung; `transcode_audio` encodes the audio once.
  Each is an ordinary job: any worker claims it, a killed one is reclaimed and redone alone (its outputs have
  fixed names under the run's own directory, so a redo overwrites, never duplicates).
- Every part's success (`after_part`, under the asset's row lock, so completions are decided one at a time)
  republishes growing EVENT playlists and a master once the start of the video and its audio are in: the asset
  is playable. When every part is in, it queues `transcode_join` (vidpipe.stages.transcode_join).

Outputs live under hls/r<job id of the transcode>/: a reprocess never writes over files of the run before it.
"""

from __future__ import annotations

import dataclasses
import tempfile
import uuid
from fractions import Fraction
from pathlib import Path
from typing import Any

from sqlalchemy import cast, select, update
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.orm import Session

from vidpipe.errors import MediaDecodeError
from vidpipe.media import chunk_hls, chunking, hls
from vidpipe.media.chunk_hls import SegmentEntry
from vidpipe.media.safe_open import ffmpeg_input_args
from vidpipe.queue import jobs
from vidpipe.stages.base import Output, StageInput, StageResult
from vidpipe.store import events
from vidpipe.store.assets import touch_asset
from vidpipe.store.models import Artifact, Job

CHUNK, AUDIO, JOIN = "transcode_chunk", "transcode_audio", "transcode_join"
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
        "subtitles": tuple(hls.SubtitleTrack(**t) for t in doc.get("subtitles") or ())})


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
    """(threshold, chunk seconds): the profile's when it sets them, else the configuration's."""
    st = inp.settings
    threshold = inp.profile.chunk_threshold_seconds
    if threshold is None:
        threshold = st.chunk_threshold_seconds if st is not None else None
    size = inp.profile.chunk_seconds or (st.chunk_seconds if st is not None else 60.0)
    return threshold, size


def wanted(plan: hls.TranscodePlan, inp: StageInput) -> bool:
    threshold, _ = chunk_settings(inp)
    return chunking.should_chunk(plan.duration, bool(plan.rungs), threshold)


def planned(plan: hls.TranscodePlan, inp: StageInput, metadata: dict[str, Any]) -> StageResult:
    """The transcode job's result for a long video: no files, the chunk plan (queued by `after_transcode`)."""
    assert plan.fps is not None
    plan = dataclasses.replace(plan, subtitles=())  # not in chunked mode yet: the video and its audio only
    _, size = chunk_settings(inp)
    first = inp.settings.first_chunk_seconds if inp.settings is not None else 8.0
    chunks = chunking.plan_chunks(plan.duration, plan.fps, plan.segment_seconds, max(size, plan.segment_seconds),
                                  first_chunk_seconds=max(first, plan.segment_seconds))
    metadata = metadata | {"audio_mode": "groups" if plan.audio else "video_only",
                           "chunked": {"plan": plan_to_json(plan), "chunks": [chunk_to_json(c) for c in chunks]}}
    inp.progress(1.0)
    return StageResult(metadata=metadata)


def _chunk_jobs(chunks: list[dict[str, Any]], rungs: list[str]) -> list[dict[str, Any]]:
    """One job per chunk; the first chunk as two: its lowest rung alone (a fraction of the work, so the asset
    plays within seconds), then its other rungs."""
    out: list[dict[str, Any]] = []
    for c in chunks:
        if c["index"] == 0 and len(rungs) > 1:
            out += [{"chunk": c, "rungs": rungs[-1:]}, {"chunk": c, "rungs": rungs[:-1]}]
        else:
            out.append({"chunk": c, "rungs": rungs})
    return [j | {"part": p} for p, j in enumerate(out)]


def after_transcode(s: Session, rt: Any, job: jobs.ClaimedJob, result: StageResult, actor: str) -> None:
    """Queue the chunk jobs and the audio job of a chunked transcode, in the transaction of its success."""
    spec = result.metadata.get("chunked")
    if not spec:
        return
    st = rt.settings
    parts = _chunk_jobs(spec["chunks"], [r["name"] for r in spec["plan"]["rungs"]])
    tracks = bool(spec["plan"]["audio"])
    common = {"run": job.id, "plan": spec["plan"], "chunks": len(spec["chunks"]), "jobs": len(parts),
              "tracks": tracks}
    if tracks:  # the audio is needed to play the first chunk: it goes first (and publishes as it goes)
        jobs.enqueue(s, job.asset_id, AUDIO, actor=actor, priority=st.first_chunk_priority + 2,
                     max_attempts=st.job_max_attempts, payload=common)
    for part in parts:
        first = part["chunk"]["index"] < st.first_chunks
        boost = st.first_chunk_priority + (1 if part["part"] == 0 else 0) if first else 0
        jobs.enqueue(s, job.asset_id, CHUNK, actor=actor, priority=boost, max_attempts=st.job_max_attempts,
                     payload=common | part, part=part["part"])


# --- a chunk job -------------------------------------------------------------------------------------------
def read_entries(directory: Path, playlist: str) -> list[SegmentEntry]:
    text = (directory / playlist).read_text() if (directory / playlist).is_file() else ""
    return [SegmentEntry(uri, duration, (directory / uri).stat().st_size)
            for uri, duration in hls.parse_media_playlist(text)]


def run(inp: StageInput) -> StageResult:
    """Encode one chunk into its rungs (all, or a share of them): segments numbered on from the chunk before."""
    from vidpipe.stages.transcode import run_ffmpeg_with_progress  # the shared ffmpeg runner

    plan, chunk, run_id = plan_from_json(inp.payload["plan"]), chunk_from_json(inp.payload["chunk"]), inp.payload["run"]
    wanted = inp.payload.get("rungs") or [r.name for r in plan.rungs]
    plan = dataclasses.replace(plan, rungs=tuple(r for r in plan.rungs if r.name in wanted))
    out = inp.work_dir / "hls"
    for rung in plan.rungs:
        (out / rung.name).mkdir(parents=True, exist_ok=True)
    input_args = ffmpeg_input_args(inp.source_path, max_frame_pixels=inp.limits.max_frame_pixels)
    run_ffmpeg_with_progress(chunk_hls.chunk_ffmpeg_args(plan, chunk, input_args, out), duration=chunk.seconds,
                             progress=inp.progress, should_stop=inp.should_stop)
    outputs: list[Output] = []
    segments: dict[str, list[list[Any]]] = {}
    codecs: dict[str, str] = {}
    for rung in plan.rungs:
        entries = read_entries(out / rung.name, chunk_hls.CHUNK_PLAYLIST)
        if not entries:
            raise MediaDecodeError(f"chunk {chunk.index} ({chunk.start:.3f} s) produced no segments for {rung.name}")
        segments[rung.name] = entries_to_json(entries)
        with (out / rung.name / entries[0].uri).open("rb") as fh:  # RFC 6381 codec of the rung, from its SPS
            codecs[rung.name] = hls.avc1_codec_from_bytes(fh.read(64 * 1024)) or "avc1.640028"
        outputs += [Output(f"{run_dir(run_id)}/{rung.name}/{e.uri}", out / rung.name / e.uri, "hls_segment",
                           SEGMENT_TYPE) for e in entries]
    return StageResult(outputs=outputs, metadata={"segments": segments, "codecs": codecs})


# --- every part's success: grow the EVENT playlists, queue the join when all are in -----------------------
def _record(s: Session, job_id: int, result: StageResult) -> None:
    """Keep a part's segment list (and codecs) on its job row: the playlists are made from these."""
    kept = {k: result.metadata[k] for k in ("segments", "codecs") if k in result.metadata}
    s.execute(update(Job).where(Job.id == job_id).values(payload=Job.payload.op("||")(cast(kept, JSONB))))


def after_part(s: Session, rt: Any, job: jobs.ClaimedJob, result: StageResult, actor: str) -> None:
    """A part succeeded, or (the audio job, which runs for a while on a film) published its segments so far."""
    _record(s, job.id, result)
    refresh(s, rt, job.asset_id, job.payload, actor)


def refresh(s: Session, rt: Any, asset_id: uuid.UUID, payload: dict[str, Any], actor: str) -> None:
    """Republish what can play now; queue the join once every part of the run has succeeded."""
    rows = s.execute(select(Job.stage, Job.status, Job.payload).where(
        Job.asset_id == asset_id, Job.stage.in_((CHUNK, AUDIO)),
        Job.payload["run"].as_integer() == payload["run"])).all()
    video: dict[str, dict[int, list[SegmentEntry]]] = {}
    codecs: dict[str, str] = {}
    chunk_jobs_done = 0
    for r in rows:
        if r.stage == CHUNK and r.status == "succeeded":
            chunk_jobs_done += 1
            for name, segs in (r.payload.get("segments") or {}).items():
                video.setdefault(name, {})[r.payload["chunk"]["index"]] = entries_from_json(segs)
            codecs |= r.payload.get("codecs") or {}
    audio_row = next((r for r in rows if r.stage == AUDIO), None)
    audio = {name: entries_from_json(segs) for name, segs in
             ((audio_row.payload.get("segments") or {}) if audio_row is not None else {}).items()}
    audio_done = not payload["tracks"] or (audio_row is not None and audio_row.status == "succeeded")
    plan = plan_from_json(payload["plan"])
    rungs = {r.name: chunk_hls.playable_prefix(video.get(r.name, {}), payload["chunks"]) for r in plan.rungs}
    rungs = {name: entries for name, entries in rungs.items() if entries}
    if plan.rungs[-1].name not in rungs or (payload["tracks"] and not audio):
        return  # the start of the lowest rung, or of the audio, is not in yet
    if chunk_jobs_done == payload["jobs"] and audio_done:
        join = {k: payload[k] for k in ("run", "plan", "chunks", "tracks")} | {"codecs": codecs}
        join["video"] = {name: entries_to_json(entries) for name, entries in rungs.items()}
        join["audio"] = {name: entries_to_json(entries) for name, entries in audio.items()}
        jobs.enqueue(s, asset_id, JOIN, actor=actor, priority=rt.settings.first_chunk_priority,
                     max_attempts=rt.settings.job_max_attempts, payload=join)
    publish_growing(s, rt, asset_id, plan, payload["run"], rungs, audio, codecs, audio_done=audio_done)


def publish_growing(s: Session, rt: Any, asset_id: uuid.UUID, plan: hls.TranscodePlan, run_id: int,
                    rungs: dict[str, list[SegmentEntry]], audio: dict[str, list[SegmentEntry]],
                    codecs: dict[str, str], *, audio_done: bool) -> None:
    """Write EVENT playlists of what is encoded so far, and a master naming them: from now on the asset plays.

    Recorded as the join's artifacts: the join's own (VOD) playlists replace them under the same keys."""
    from vidpipe.stages.transcode_join import master_text  # the join's master, from the same segment lists

    base = run_dir(run_id)
    first = s.scalar(select(Artifact.id).where(Artifact.asset_id == asset_id, Artifact.kind == "hls_master")) is None
    files: list[tuple[str, str, str]] = [(f"{base}/{name}/index.m3u8", chunk_hls.media_playlist(e, complete=False),
                                          "hls_playlist") for name, e in rungs.items()]
    files += [(f"{base}/{name}/index.m3u8", chunk_hls.media_playlist(e, complete=audio_done), "hls_playlist")
              for name, e in audio.items()]
    shown = dataclasses.replace(plan, rungs=tuple(r for r in plan.rungs if r.name in rungs))
    files.append(("hls/master.m3u8", master_text(shown, run_id, rungs, audio, codecs)[0], "hls_master"))
    with tempfile.TemporaryDirectory(prefix="vidpipe-live-") as tmp:
        for key, text, kind in files:
            path = Path(tmp) / "file.m3u8"
            path.write_text(text)
            stored = rt.blobs.put_file(f"{asset_id}/{key}", path, PLAYLIST_TYPE)
            values = {"asset_id": asset_id, "stage": JOIN, "kind": kind, "key": f"{asset_id}/{key}",
                      "content_type": PLAYLIST_TYPE, "size_bytes": stored.size}
            stmt = insert(Artifact).values(**values)
            s.execute(stmt.on_conflict_do_update(constraint="uq_artifacts_asset_key",
                                                 set_={k: stmt.excluded[k] for k in ("stage", "kind", "size_bytes")}))
    touch_asset(s, asset_id)
    if first:  # the moment a long video became watchable (bench_scale_out measures from upload to here)
        seconds = round(sum(e.duration for e in rungs[plan.rungs[-1].name]), 3)
        events.record(s, "asset.playable", actor="queue", asset_id=asset_id, run=run_id, seconds=seconds)
