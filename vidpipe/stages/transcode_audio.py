"""The audio part of a chunked transcode: every audio track, whole, in one encoder run (vidpipe.media.chunk_hls
says why not per chunk). Its segments sit on the same grid as the video's."""

from __future__ import annotations

from typing import Any

from vidpipe.errors import MediaDecodeError
from vidpipe.media import chunk_hls
from vidpipe.media.safe_open import ffmpeg_input_args
from vidpipe.stages.base import Output, StageInput, StageResult
from vidpipe.stages.transcode_chunks import SEGMENT_TYPE, entries_to_json, plan_from_json, read_entries, run_dir


def run(inp: StageInput) -> StageResult:
    from vidpipe.stages.transcode import run_ffmpeg_with_progress

    plan, run_id = plan_from_json(inp.payload["plan"]), inp.payload["run"]
    out = inp.work_dir / "hls"
    for track in plan.audio:
        (out / track.name).mkdir(parents=True, exist_ok=True)
    input_args = ffmpeg_input_args(inp.source_path, max_frame_pixels=inp.limits.max_frame_pixels)
    run_ffmpeg_with_progress(chunk_hls.audio_ffmpeg_args(plan, input_args, out), duration=plan.duration,
                             progress=inp.progress, should_stop=inp.should_stop)
    outputs: list[Output] = []
    segments: dict[str, list[list[Any]]] = {}
    for track in plan.audio:
        entries = read_entries(out / track.name, "index.m3u8")
        if not entries:
            raise MediaDecodeError(f"the audio track {track.name} produced no segments")
        segments[track.name] = entries_to_json(entries)
        outputs += [Output(f"{run_dir(run_id)}/{track.name}/{e.uri}", out / track.name / e.uri, "hls_segment",
                           SEGMENT_TYPE) for e in entries]
    return StageResult(outputs=outputs, metadata={"segments": segments})
