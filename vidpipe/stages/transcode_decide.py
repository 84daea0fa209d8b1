"""The per-title decision of a long video as a job of its own (`transcode_decide`): the trials run once, on the
whole title's sampled windows, while the first chunk's lowest rung is already encoding (chunk_plan.planned)."""

from __future__ import annotations

import dataclasses

from vidpipe.contract import StageInput, StageResult
from vidpipe.errors import MediaDecodeError
from vidpipe.ffmpeg import vmaf
from vidpipe.ffmpeg.safe_open import ffmpeg_input_args
from vidpipe.stages import chunk_plan, transcode_per_title


def run(inp: StageInput) -> StageResult:
    """The per-title decision of a chunked transcode, as its own job (`transcode_decide`): the ladder the chunks
    after the first one's lowest rung are encoded with. The lowest rung is always kept (its start is out)."""
    fixed = chunk_plan.plan_from_json(inp.payload["plan"])
    input_args = ffmpeg_input_args(inp.source_path, max_frame_pixels=inp.limits.max_frame_pixels)
    try:
        plan, decision, quality = transcode_per_title.analyse(fixed, input_args, inp,
                                                              vmaf.sample_windows(fixed.duration))
    except MediaDecodeError as exc:
        plan, decision, quality = fixed, transcode_per_title.fallback_decision(inp, exc), {}
    lowest = fixed.rungs[-1]
    if lowest.name not in {r.name for r in plan.rungs}:
        crf = decision.get("crf")
        keep = dataclasses.replace(lowest, crf=crf, cap_kbps=lowest.maxrate_kbps) if crf is not None else lowest
        plan = dataclasses.replace(plan, rungs=(*plan.rungs, keep))
    inp.progress(1.0)
    return StageResult(metadata={"decided_plan": chunk_plan.plan_to_json(plan), "ladder_decision": decision,
                                 "quality": quality})
