"""The per-title part of the transcode stage: the analysis that sets the ladder, the check of the top rendition
after the ladder is encoded (and its encode again when it missed), and the scratch accounting that decides whether
the analysis keeps its whole decode for the ladder.

The decisions are pure (vidpipe.ffmpeg.per_title); the trials and VMAF runs are vidpipe.ffmpeg.vmaf. This module
is the stage-side shell: it reads the profile, the settings and the work dir, and logs what it could not measure.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
from pathlib import Path
from typing import Any

import av

from vidpipe.contract import StageInput
from vidpipe.errors import MediaDecodeError
from vidpipe.ffmpeg import hls, per_title, process, vmaf
from vidpipe.settings import Settings, TranscodeSettings

log = logging.getLogger(__name__)


def analyse(plan: hls.TranscodePlan, input_args: list[str], inp: StageInput, windows: list[vmaf.Window],
               decoded_video: Path | None = None, for_check: vmaf.WindowReference | None = None,
               ) -> tuple[hls.TranscodePlan, dict[str, Any], dict[str, dict[str, Any]]]:
    """Every rung's CRF for the profile's target and the rungs worth keeping, from trial encodes of the windows."""
    result = vmaf.analyse(plan, input_args, windows, target=inp.profile.target_vmaf,
                          min_vmaf_step=inp.profile.min_vmaf_step, work_dir=inp.work_dir, should_stop=inp.should_stop,
                          decoded_video=decoded_video, for_check=for_check)
    inp.progress(0.12)
    return result


def fallback_decision(inp: StageInput, exc: MediaDecodeError) -> dict[str, Any]:
    """The ladder decision when the trials fail, logged: they are an optimisation, the fixed ladder still plays."""
    log.warning("transcode.per_title_fallback", extra={"asset_id": str(inp.asset_id), "error": str(exc)})
    return {"mode": "fixed", "per_title_failed": str(exc)}


def checked_top(plan: hls.TranscodePlan, decision: dict[str, Any], quality: dict[str, dict[str, Any]],
                 input_args: list[str], windows: list[vmaf.Window], hls_dir: Path, inp: StageInput,
                 reference: vmaf.WindowReference, video_start: float | None, decoded: tuple[Path, float] | None,
                 ) -> tuple[hls.TranscodePlan, dict[str, Any], dict[str, dict[str, Any]]]:
    """Score the top rendition itself on the windows, against the trials' reference (the same frames before
    encoding); when it lies further from the target than the trials promised (per_title.needs_reencode), encode
    that rung again at the corrected CRF (from the shared decode when there is one, else from the source) and score
    it again. Returns the plan, decision and quality report with the rendition's own VMAF for the top rung. Only
    for an uncapped title whose windows came from one decode (the caller decides): a capped title's report already
    says it misses the target (a lower CRF would only meet the same cap)."""
    top = plan.rungs[0]
    target = float(decision["target_vmaf"])
    if video_start is None:
        log.warning("transcode.rendition_check_failed",
                    extra={"asset_id": str(inp.asset_id), "error": "the first frame's timestamp is unreadable"})
        return plan, decision, quality
    # A video that starts after the audio starts the rendition with that many repeated frames (cfr from 0). From
    # the decoded timestamp, within a frame: a video less than a frame late (an MPEG-TS whose video starts 0.5 frame
    # after its audio) is one frame late in a ladder that decodes the source itself, and none in the raw file.
    predicted = round(video_start * float(plan.fps or 25))

    def measure(crf: float | None, lead: int) -> dict[str, Any]:
        vmaf_ = vmaf.rendition_vmaf(hls_dir / top.name / "index.m3u8", reference, plan, windows, inp.work_dir,
                                    lead_frames=lead, should_stop=inp.should_stop)
        return {"crf": crf, "vmaf": round(vmaf_, 2)}

    checks: list[dict[str, Any]] = []
    decision = decision | {"rendition_checks": checks}
    estimate = float(quality[top.name]["vmaf"])
    try:
        # The predicted lead, else a frame either side: frames paired with their neighbours score tens of points
        # below the estimate (per_title.plausible_check), the right ones within a few.
        for lead in dict.fromkeys(max(0, predicted + step) for step in (0, 1, -1)):
            first = measure(top.crf, lead)
            if per_title.plausible_check(first["vmaf"], estimate):
                checks.append(first)
                break
        else:
            log.warning("transcode.rendition_check_implausible",
                        extra={"asset_id": str(inp.asset_id), "measured": first["vmaf"], "estimate": estimate})
            return plan, decision, quality
        if top.crf is not None and per_title.needs_reencode(checks[0]["vmaf"], target):
            crf = per_title.corrected_crf([per_title.Trial(**t) for t in decision["trials"]], top.crf,
                                          checks[0]["vmaf"], target)
            if crf != top.crf:
                top = dataclasses.replace(top, crf=crf)
                _encode_again(plan, top, input_args, hls_dir, inp, decoded)
                plan = dataclasses.replace(plan, rungs=(top, *plan.rungs[1:]))
                checks.append(measure(crf, lead))
    except MediaDecodeError as exc:  # the last measured rendition stands, else the trials' estimate
        log.warning("transcode.rendition_check_failed", extra={"asset_id": str(inp.asset_id), "error": str(exc)})
    measured = [c for c in checks if c["crf"] == top.crf]
    if not measured:  # the top rung was encoded again but not scored: the estimate stands, at its new CRF
        return plan, decision, quality | {top.name: quality[top.name] | {"crf": top.crf}}
    vmaf_ = measured[-1]["vmaf"]
    report = {"vmaf": vmaf_, "crf": top.crf, "measured_on": "rendition",
              "meets_target": not per_title.misses_target(vmaf_, target)}
    return plan, decision, quality | {top.name: quality[top.name] | report}


def _encode_again(plan: hls.TranscodePlan, rung: hls.PlannedRung, input_args: list[str], hls_dir: Path,
                  inp: StageInput, decoded: tuple[Path, float] | None) -> None:
    """Encode one rung alone (with its audio when the rungs carry it) and put it in place of the first one."""
    muxed = plan.mode == "muxed"
    alone = dataclasses.replace(plan, rungs=(rung,), subtitles=(), audio=plan.audio if muxed else (),
                                audio_filters=plan.audio_filters if muxed else ())
    out = inp.work_dir / "hls-again"
    shutil.rmtree(out, ignore_errors=True)
    (out / rung.name).mkdir(parents=True)
    process.run_with_progress(hls.build_ffmpeg_args(alone, input_args, out, decoded_video=decoded),
                              duration=plan.duration, progress=lambda f: None, should_stop=inp.should_stop)
    shutil.rmtree(hls_dir / rung.name)
    (out / rung.name).rename(hls_dir / rung.name)
    shutil.rmtree(out)


def raw_bytes_per_pixel(plan: hls.TranscodePlan) -> float:
    """Bytes a pixel of the frames `hls.video_filters` outputs take raw: the decoder's pixel format (1.5 for 8-bit
    4:2:0, 3 for 10-bit 4:2:0, 6 for 16-bit 4:4:4), the tone map's 8-bit 4:2:0, or 6 when the format is unknown."""
    pix_fmt = "yuv420p" if plan.tonemap_from else plan.source_pix_fmt
    try:
        frame = av.VideoFrame(64, 64, pix_fmt or "")
    except ValueError:  # not a format PyAV knows
        return 6.0
    return sum(p.buffer_size for p in frame.planes) / (64 * 64)


def raw_video_bytes(plan: hls.TranscodePlan, probe: dict[str, Any]) -> float:
    """The whole decoded video's size, raw, in the pixel format the ladder reads (raw_bytes_per_pixel)."""
    width, height = probe.get("width") or 0, probe.get("height") or 0
    return width * height * raw_bytes_per_pixel(plan) * plan.duration * float(plan.fps or 0)


def reference_bytes(plan: hls.TranscodePlan, windows: list[vmaf.Window]) -> float:
    """The trials' reference kept for the top rendition's check: the windows' frames at the top rung's size, in the
    reference's raw format (vmaf.REFERENCE_PIX_FMT)."""
    if not plan.rungs:
        return 0.0
    top, seconds = plan.rungs[0], sum(w.seconds for w in windows)
    return top.width * top.height * vmaf.REFERENCE_BYTES_PER_PIXEL * seconds * float(plan.fps or 0)


def shares_decode(plan: hls.TranscodePlan, probe: dict[str, Any], windows: list[vmaf.Window], *, limit_bytes: int,
                  free_bytes: int, min_free_bytes: int) -> bool:
    """Whether the per-title analysis should keep the whole decoded video for the ladder: its windows come from
    one decode from the start anyway, and the raw frames fit in `limit_bytes` (the shared_decode_bytes setting)
    and leave the work dir's volume at least `min_free_bytes` free besides the trials' kept reference (the
    readiness minimum: a scratch file that fills the disk would fail this ladder and the next jobs; decoding twice
    costs only CPU). Tone-mapped (HDR) sources too: the ladder tags the frames it reads back with their colour
    (hls.picture_colour)."""
    size = raw_video_bytes(plan, probe)
    return (bool(plan.rungs) and vmaf.sequential(windows) and 0 < size <= limit_bytes
            and free_bytes - size - reference_bytes(plan, windows) >= min_free_bytes)


def decode_scratch(inp: StageInput) -> tuple[int, int]:
    """(shared_decode_bytes, ready_min_free_bytes) of the configuration; their defaults without one (a stage
    never reads the environment itself)."""
    if inp.settings is not None:
        return inp.settings.transcode.shared_decode_bytes, inp.settings.ready_min_free_bytes
    return (TranscodeSettings.model_fields["shared_decode_bytes"].default,
            Settings.model_fields["ready_min_free_bytes"].default)


def shares(plan: hls.TranscodePlan, probe: dict[str, Any], windows: list[vmaf.Window], inp: StageInput) -> bool:
    limit, min_free = decode_scratch(inp)
    try:
        free = shutil.disk_usage(inp.work_dir).free
    except OSError:  # cannot tell: decode twice rather than risk the disk
        return False
    return shares_decode(plan, probe, windows, limit_bytes=limit, free_bytes=free, min_free_bytes=min_free)
