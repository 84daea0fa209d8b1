"""Chunked transcode of long videos: the transcode job plans, chunk jobs encode, a join job writes the playlists.

- `transcode` (vidpipe.stages.transcode) decides the ladder as always (per-title included); for a long video it
  then only plans the chunks (vidpipe.stages.chunk_plan, vidpipe.ffmpeg.chunking) and its success hook
  (vidpipe.jobs.chunked.after_transcode) queues one `transcode_chunk` job per chunk (the first chunk's lowest rung
  as a job of its own) plus one `transcode_audio` job, in the transaction that records its success.
- `transcode_chunk` (here, `run`) encodes its frames into its rungs; `transcode_audio` encodes the audio once and
  publishes its segments as they come.
  Each is an ordinary job: any worker claims it, a killed one is reclaimed and redone alone (its outputs have
  fixed names under the run's own directory, so a redo overwrites, never duplicates).
- Every part's success (vidpipe.jobs.chunked.after_part, under the asset's row lock, so completions are decided
  one at a time) republishes growing EVENT playlists and a master once the start of the video and its audio are
  in: the asset is playable. When every part is in, it queues `transcode_join` (vidpipe.stages.transcode_join).

Outputs live under hls/r<job id of the transcode>/: a reprocess never writes over files of the run before it.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from vidpipe.contract import Output, StageInput, StageResult
from vidpipe.errors import MediaDecodeError
from vidpipe.ffmpeg import chunk_hls, playlists
from vidpipe.ffmpeg.process import run_with_progress
from vidpipe.ffmpeg.safe_open import ffmpeg_input_args
from vidpipe.stages.chunk_plan import (
    SEGMENT_TYPE,
    chunk_from_json,
    entries_to_json,
    plan_from_json,
    read_entries,
    run_dir,
)


def run(inp: StageInput) -> StageResult:
    """Encode one chunk into its rungs (all, or a share of them): segments numbered on from the chunk before."""
    plan, chunk, run_id = plan_from_json(inp.payload["plan"]), chunk_from_json(inp.payload["chunk"]), inp.payload["run"]
    wanted = inp.payload.get("rungs") or [r.name for r in plan.rungs]
    plan = dataclasses.replace(plan, rungs=tuple(r for r in plan.rungs if r.name in wanted))
    out = inp.work_dir / "hls"
    for rung in plan.rungs:
        (out / rung.name).mkdir(parents=True, exist_ok=True)
    input_args = ffmpeg_input_args(inp.source_path, max_frame_pixels=inp.limits.max_frame_pixels)
    run_with_progress(chunk_hls.chunk_ffmpeg_args(plan, chunk, input_args, out), duration=chunk.seconds,
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
            codecs[rung.name] = playlists.avc1_codec_from_bytes(fh.read(64 * 1024)) or "avc1.640028"
        outputs += [Output(f"{run_dir(run_id)}/{rung.name}/{e.uri}", out / rung.name / e.uri, "hls_segment",
                           SEGMENT_TYPE) for e in entries]
    return StageResult(outputs=outputs, metadata={"segments": segments, "codecs": codecs})
