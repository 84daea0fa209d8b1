"""The queue side of a chunked transcode (vidpipe.stages.chunk_plan has the overview): the success hooks that queue
the chunk, audio and join jobs, and republish the growing EVENT playlists as parts come in.

They run inside the runner's transaction that records a part's success (or, for the audio job, its early
segments), under the asset's row lock: completions of one asset are decided one at a time, and the work a hook
queues exists exactly when the success that caused it does."""

from __future__ import annotations

import dataclasses
import tempfile
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import cast, delete, func, select, update
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.orm import Session

from vidpipe.contract import StageResult
from vidpipe.db import events
from vidpipe.db.assets import touch_asset
from vidpipe.db.models import Artifact, Job
from vidpipe.ffmpeg import chunk_hls, hls
from vidpipe.ffmpeg.chunk_hls import SegmentEntry
from vidpipe.jobs import queue as jobs
from vidpipe.stages.chunk_plan import (
    AUDIO,
    CHUNK,
    DECIDE,
    JOIN,
    PLAYLIST_TYPE,
    entries_from_json,
    entries_to_json,
    plan_from_json,
    run_dir,
)
from vidpipe.stages.transcode_join import master_text
from vidpipe.states import JobStatus

RUN_STAGES = (CHUNK, AUDIO, DECIDE, JOIN)  # the jobs of one run of a chunked transcode (payload "run")


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
    """Queue the chunk jobs and the audio job of a chunked transcode, in the transaction of its success. Parts of
    earlier runs still queued are cancelled, chunked or not: superseded, they would publish nothing."""
    assert job.asset_id is not None
    retire_superseded(s, job.asset_id, job.id, actor)
    spec = result.metadata.get("chunked")
    if not spec:
        return
    st, attempts = rt.settings.transcode, rt.settings.queue.max_attempts
    parts = _chunk_jobs(spec["chunks"], [r["name"] for r in spec["plan"]["rungs"]])
    tracks, subtitles = bool(spec["plan"]["audio"]), bool(spec["plan"].get("subtitles"))
    common = {"run": job.id, "plan": spec["plan"], "chunks": len(spec["chunks"]), "tracks": tracks,
              "subtitles": subtitles, "quality": result.metadata.get("quality") or {},
              "decide": bool(spec.get("decide"))}
    if spec.get("decide"):  # per-title: only the first chunk's lowest rung now (fixed rate), the rest after it
        parts = parts[:1]
        jobs.enqueue(s, job.asset_id, DECIDE, actor=actor, priority=st.first_chunk_priority,
                     max_attempts=attempts, payload=common | {"all_chunks": spec["chunks"]})
    # First the first chunk's lowest rung (a few seconds of work), then the audio (it publishes as it goes): on a
    # single worker the other order made the start wait for the whole film's audio.
    if tracks or subtitles:  # the audio job writes the subtitles too (one read of the source)
        jobs.enqueue(s, job.asset_id, AUDIO, actor=actor, priority=st.first_chunk_priority + 1,
                     max_attempts=attempts, payload=common)
    for part in parts:
        first = part["chunk"]["index"] < st.first_chunks
        boost = st.first_chunk_priority + (2 if part["part"] == 0 else 0) if first else 0
        jobs.enqueue(s, job.asset_id, CHUNK, actor=actor, priority=boost, max_attempts=attempts,
                     payload=common | part, part=part["part"])


def retire_superseded(s: Session, asset_id: uuid.UUID, run_id: int, actor: str) -> list[int]:
    """Cancel the parts of the asset's earlier runs that are still queued: no worker spends time on work that
    would publish nothing. Running ones finish (the queue keeps runs apart, so they hold back none of this run's
    parts): after_part records their files for this run's join to delete, or deletes them once it is done."""
    rows = s.execute(update(Job).where(
        Job.asset_id == asset_id, Job.stage.in_(RUN_STAGES), Job.status == JobStatus.QUEUED,
        Job.payload["run"].as_integer() < run_id,
    ).values(status=JobStatus.CANCELLED, finished_at=func.now(), last_error_code="superseded",
             last_error=f"superseded by transcode {run_id}").returning(Job.id, Job.stage)).all()
    for row in rows:
        events.record(s, "job.cancelled", actor=actor, asset_id=asset_id, job_id=row.id, stage=row.stage,
                      reason="superseded", run=run_id)
    return [row.id for row in rows]


def after_decide(s: Session, rt: Any, job: jobs.ClaimedJob, result: StageResult, actor: str) -> None:
    """The per-title ladder is known: queue every other part with it (part 0, the first chunk's lowest rung at
    the fixed rate, is queued already)."""
    assert job.asset_id is not None
    if superseded(s, job.asset_id, job.payload["run"]):
        return
    s.execute(update(Job).where(Job.id == job.id).values(payload=Job.payload.op("||")(cast(
        {"decided_plan": result.metadata["decided_plan"], "quality": result.metadata.get("quality") or {}}, JSONB))))
    st, attempts, plan = rt.settings.transcode, rt.settings.queue.max_attempts, result.metadata["decided_plan"]
    lowest = job.payload["plan"]["rungs"][-1]["name"]
    rest = [p for p in _chunk_jobs(job.payload["all_chunks"], [r["name"] for r in plan["rungs"]])
            if not (p["chunk"]["index"] == 0 and p["rungs"] == [lowest])]
    common = {k: job.payload.get(k) for k in ("run", "chunks", "tracks", "subtitles", "decide")} | {
        "plan": plan, "quality": result.metadata.get("quality") or {}}
    for n, part in enumerate(rest, start=1):
        first = part["chunk"]["index"] < st.first_chunks
        rungs = [r for r in part["rungs"] if not (part["chunk"]["index"] == 0 and r == lowest)]
        jobs.enqueue(s, job.asset_id, CHUNK, actor=actor, priority=st.first_chunk_priority if first else 0,
                     max_attempts=attempts, payload=common | part | {"part": n, "rungs": rungs}, part=n)


def after_join(s: Session, rt: Any, job: jobs.ClaimedJob, result: StageResult, actor: str) -> list[str]:
    """The run is complete: the files of earlier transcodes of the asset (a single job's ladder, another run's
    chunks, audio and subtitles) go now and not before, since a player that loaded the master before this run
    was playable is still on them while it encodes (vidpipe.db.assets.save_stage_result keeps them until here).
    Returns their keys: the runner deletes the files after the commit. The earlier runs' playlists were the
    join's own artifacts, replaced by this join's."""
    assert job.asset_id is not None
    if superseded(s, job.asset_id, job.payload["run"]):  # queued before a reprocess: that run's join clears up
        return []
    ours = f"{job.asset_id}/{run_dir(job.payload['run'])}/"
    earlier = ((Artifact.stage == "transcode") | Artifact.stage.like("transcode\\_%")) & (Artifact.stage != JOIN)
    return list(s.scalars(delete(Artifact).where(
        Artifact.asset_id == job.asset_id, earlier, ~Artifact.key.startswith(ours, autoescape=True),
    ).returning(Artifact.key)).all())


# --- every part's success: grow the EVENT playlists, queue the join when all are in -----------------------
def _record(s: Session, job_id: int, result: StageResult) -> None:
    """Keep a part's segment list (and codecs) on its job row: the playlists are made from these."""
    kept = {k: result.metadata[k] for k in ("segments", "codecs") if k in result.metadata}
    s.execute(update(Job).where(Job.id == job_id).values(payload=Job.payload.op("||")(cast(kept, JSONB))))


def superseded(s: Session, asset_id: uuid.UUID, run_id: int) -> bool:
    """A later transcode of the asset (a reprocess) exists: this run's parts publish and queue nothing more."""
    latest = s.scalar(select(func.max(Job.id)).where(Job.asset_id == asset_id, Job.stage == "transcode"))
    return latest is not None and latest > run_id


def current_run(s: Session, job: jobs.ClaimedJob) -> bool:
    """Whether a part's run is still the asset's latest transcode: its outputs may replace what plays."""
    return job.asset_id is not None and not superseded(s, job.asset_id, job.payload["run"])


def settled(s: Session, asset_id: uuid.UUID) -> bool:
    """The asset's latest transcode is complete, and cleared the earlier runs' files as it completed: its run's
    join succeeded (after_join), or it was a single job (it queued no parts) that succeeded (save_stage_result)."""
    latest = s.execute(select(Job.id, Job.status).where(Job.asset_id == asset_id, Job.stage == "transcode")
                       .order_by(Job.id.desc()).limit(1)).first()
    if latest is None or latest.status != JobStatus.SUCCEEDED:
        return False
    parts = s.execute(select(Job.stage, Job.status).where(
        Job.asset_id == asset_id, Job.stage.in_(RUN_STAGES),
        Job.payload["run"].as_integer() == latest.id)).all()
    return not parts or any(p.stage == JOIN and p.status == JobStatus.SUCCEEDED for p in parts)


def after_part(s: Session, rt: Any, job: jobs.ClaimedJob, result: StageResult, actor: str) -> list[str]:
    """A part succeeded, or (the audio job, which runs for a while on a film) published its segments so far.

    A part of a run a reprocess superseded publishes nothing (refresh); its files are recorded, outside the new
    run's directory, so the new run's join deletes them. Once that join is done (or the new transcode was a single
    job), nothing is left to delete them: they go now. Returns their keys: the runner deletes the files after the
    commit, as after_join's."""
    assert job.asset_id is not None  # parts are only ever queued for an asset
    _record(s, job.id, result)
    if superseded(s, job.asset_id, job.payload["run"]) and settled(s, job.asset_id):
        ours = f"{job.asset_id}/{run_dir(job.payload['run'])}/"  # never a file of another run
        keys = [key for key in (f"{job.asset_id}/{out.key}" for out in result.outputs) if key.startswith(ours)]
        s.execute(delete(Artifact).where(Artifact.asset_id == job.asset_id, Artifact.key.in_(keys)))
        return keys
    refresh(s, rt, job.asset_id, job.payload, actor)
    return []


def refresh(s: Session, rt: Any, asset_id: uuid.UUID, payload: dict[str, Any], actor: str) -> None:
    """Republish what can play now; queue the join once every part of the run has succeeded. Nothing, for a run
    a later transcode superseded (its playlists would replace the new run's)."""
    if superseded(s, asset_id, payload["run"]):
        return
    rows = s.execute(select(Job.stage, Job.status, Job.payload).where(
        Job.asset_id == asset_id, Job.stage.in_((CHUNK, AUDIO, DECIDE)),
        Job.payload["run"].as_integer() == payload["run"])).all()
    decided = next((r.payload for r in rows if r.stage == DECIDE and r.status == "succeeded"), None)
    if payload.get("decide") and decided is not None:  # per-title: the ladder as decided, its quality
        payload = payload | {"plan": decided["decided_plan"], "quality": decided.get("quality") or {}}
    video: dict[str, dict[int, list[SegmentEntry]]] = {}
    codecs: dict[str, str] = {}
    for r in rows:
        if r.stage == CHUNK and r.status == "succeeded":
            for name, segs in (r.payload.get("segments") or {}).items():
                video.setdefault(name, {})[r.payload["chunk"]["index"]] = entries_from_json(segs)
            codecs |= r.payload.get("codecs") or {}
    audio_row = next((r for r in rows if r.stage == AUDIO), None)
    audio = {name: entries_from_json(segs) for name, segs in
             ((audio_row.payload.get("segments") or {}) if audio_row is not None else {}).items()}
    # The audio job (audio tracks and/or subtitles) has published all it makes: the join may follow
    audio_done = not (payload["tracks"] or payload.get("subtitles")) or (
        audio_row is not None and audio_row.status == "succeeded")
    plan = plan_from_json(payload["plan"])
    rungs = {r.name: chunk_hls.playable_prefix(video.get(r.name, {}), payload["chunks"]) for r in plan.rungs}
    rungs = {name: entries for name, entries in rungs.items() if entries}
    if plan.rungs[-1].name not in rungs or (payload["tracks"] and not audio):
        return  # the start of the lowest rung, or of the audio, is not in yet
    # Complete: every rung of the final ladder has every chunk (with per-title: once the ladder is decided).
    complete = all(len(video.get(r.name, {})) == payload["chunks"] for r in plan.rungs)
    if complete and audio_done and (not payload.get("decide") or decided is not None):
        join = {k: payload.get(k) for k in ("run", "plan", "chunks", "tracks", "subtitles")} | {
            "codecs": codecs, "quality": payload.get("quality") or {}}
        join["video"] = {name: entries_to_json(entries) for name, entries in rungs.items()}
        join["audio"] = {name: entries_to_json(entries) for name, entries in audio.items()}
        jobs.enqueue(s, asset_id, JOIN, actor=actor, priority=rt.settings.transcode.first_chunk_priority,
                     max_attempts=rt.settings.queue.max_attempts, payload=join)
    publish_growing(s, rt, asset_id, plan, payload["run"], rungs, audio, codecs, audio_done=audio_done)


def publish_growing(s: Session, rt: Any, asset_id: uuid.UUID, plan: hls.TranscodePlan, run_id: int,
                    rungs: dict[str, list[SegmentEntry]], audio: dict[str, list[SegmentEntry]],
                    codecs: dict[str, str], *, audio_done: bool) -> None:
    """Write EVENT playlists of what is encoded so far, and a master naming them: from now on the asset plays.

    Recorded as the join's artifacts: the join's own (VOD) playlists replace them under the same keys."""
    base = run_dir(run_id)
    first = s.scalar(select(Artifact.id).where(Artifact.asset_id == asset_id, Artifact.kind == "hls_master")) is None
    files: list[tuple[str, str, str]] = [(f"{base}/{name}/index.m3u8", chunk_hls.media_playlist(e, complete=False),
                                          "hls_playlist") for name, e in rungs.items()]
    files += [(f"{base}/{name}/index.m3u8", chunk_hls.media_playlist(e, complete=audio_done), "hls_playlist")
              for name, e in audio.items()]
    shown = dataclasses.replace(plan, rungs=tuple(r for r in plan.rungs if r.name in rungs))
    subtitles = audio_done and bool(plan.subtitles)  # the audio job's end published them
    files.append(("hls/master.m3u8", master_text(shown, run_id, rungs, audio, codecs, subtitles=subtitles)[0],
                  "hls_master"))
    with tempfile.TemporaryDirectory(prefix="vidpipe-live-") as tmp:
        for key, text, kind in files:
            path = Path(tmp) / "file.m3u8"
            path.write_text(text)
            stored = rt.media_store.put_file(f"{asset_id}/{key}", path, PLAYLIST_TYPE)
            values = {"asset_id": asset_id, "stage": JOIN, "kind": kind, "key": f"{asset_id}/{key}",
                      "content_type": PLAYLIST_TYPE, "size_bytes": stored.size}
            stmt = insert(Artifact).values(**values)
            s.execute(stmt.on_conflict_do_update(constraint="uq_artifacts_asset_key",
                                                 set_={k: stmt.excluded[k] for k in ("stage", "kind", "size_bytes")}))
    touch_asset(s, asset_id)
    if first:  # the moment a long video became watchable (bench_scale_out measures from upload to here)
        seconds = round(sum(e.duration for e in rungs[plan.rungs[-1].name]), 3)
        events.record(s, "asset.playable", actor="queue", asset_id=asset_id, run=run_id, seconds=seconds)
