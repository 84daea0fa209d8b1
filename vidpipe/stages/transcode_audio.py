"""The audio part of a chunked transcode: every audio track, whole, in one encoder run (vidpipe.ffmpeg.chunk_hls
says why not per chunk). Its segments sit on the same grid as the video's. The same run (one read of the source)
writes the text subtitle tracks as WebVTT renditions; a video with subtitles and no audio gets this job for them.

On a film this job runs for a minute or more, longer than the first video chunk: so it publishes its segments
as they come (StageInput.publish, every PUBLISH_EVERY seconds) and the start plays without waiting for the end."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from vidpipe.contract import Output, StageInput, StageResult
from vidpipe.errors import MediaDecodeError
from vidpipe.ffmpeg import chunk_hls, hls
from vidpipe.ffmpeg.process import run_with_progress
from vidpipe.ffmpeg.safe_open import ffmpeg_input_args
from vidpipe.stages.chunk_plan import SEGMENT_TYPE, entries_to_json, plan_from_json, read_entries, run_dir
from vidpipe.stages.transcode import subtitle_files

log = logging.getLogger(__name__)
PUBLISH_EVERY = 3.0  # seconds between two early publications (the first goes as soon as a segment is done)


def _result(plan: hls.TranscodePlan, out: Path, run_id: int, *, skip: dict[str, int], final: bool) -> StageResult:
    """Segments of every track so far; outputs only for those after the first `skip[track]` (published before)."""
    outputs: list[Output] = []
    segments: dict[str, list[list[Any]]] = {}
    for track in plan.audio:
        try:
            entries = read_entries(out / track.name, "index.m3u8")
        except OSError:  # mid-rewrite by ffmpeg: next time
            entries = []
        if final and not entries:
            raise MediaDecodeError(f"the audio track {track.name} produced no segments")
        segments[track.name] = entries_to_json(entries)
        outputs += [Output(f"{run_dir(run_id)}/{track.name}/{e.uri}", out / track.name / e.uri, "hls_segment",
                           SEGMENT_TYPE) for e in entries[skip.get(track.name, 0):]]
    return StageResult(outputs=outputs, metadata={"segments": segments})


def run(inp: StageInput) -> StageResult:
    plan, run_id = plan_from_json(inp.payload["plan"]), inp.payload["run"]
    out = inp.work_dir / "hls"
    for name in [t.name for t in plan.audio] + [t.name for t in plan.subtitles]:
        (out / name).mkdir(parents=True, exist_ok=True)
    published: dict[str, int] = {}
    last = [0.0]

    def progress(fraction: float) -> None:
        inp.progress(fraction)
        if inp.publish is None or (published and time.monotonic() - last[0] < PUBLISH_EVERY):
            return
        early = _result(plan, out, run_id, skip=published, final=False)
        counts = {name: len(rows) for name, rows in early.metadata["segments"].items()}
        if all(counts.values()) and counts != published:  # every track has a start, and something is new
            last[0] = time.monotonic()
            try:
                inp.publish(early)
            except Exception as exc:  # an early look is a bonus: the job goes on, its end publishes everything
                log.warning("transcode_audio.early_publish_failed", extra={"error": str(exc)})
                return
            published.update(counts)

    input_args = ffmpeg_input_args(inp.source_path, max_frame_pixels=inp.limits.max_frame_pixels)
    run_with_progress(chunk_hls.audio_ffmpeg_args(plan, input_args, out), duration=plan.duration,
                      progress=progress, should_stop=inp.should_stop)
    result = _result(plan, out, run_id, skip={}, final=True)
    for sub in plan.subtitles:  # published with the job's end: the join (or the growing master) names them
        result.outputs.extend(subtitle_files(out / sub.name, plan.duration, chunk_hls.TIMELINE_START_90K,
                                             key_prefix=run_dir(run_id)))
    return result
