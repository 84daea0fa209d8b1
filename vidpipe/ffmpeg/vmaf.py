"""Sampled quality measurement with the bundled ffmpeg (libvmaf): trial encodes of a few short windows of the
source, VMAF against those windows, and the per-title analysis built on them (`analyse`). The shell around the
pure decisions in vidpipe.ffmpeg.per_title.

Cost is what matters here (the analysis must stay a small share of the ladder's own encode), so: the source is
decoded once, into a lossless reference of the windows at the top rung's size that every later trial and VMAF run
reads; trials use the ladder's own preset (so a CRF means the same thing) on short windows; VMAF scores every
few frames with one thread. Windows are decoded from the untrusted source with the same safe input arguments as
the transcode; everything else read here is our own output.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av

from vidpipe.errors import JobCancelledError, MediaDecodeError
from vidpipe.ffmpeg import hls, per_title, playlists
from vidpipe.ffmpeg.process import ffmpeg_failure, popen_ffmpeg

WINDOW_SECONDS = 0.5
MAX_WINDOWS = 6
# Below this, two windows: the trials' cost is their frames, and a short title has less to sample.
SHORT_TITLE_SECONDS = 20.0
# Up to this long, the windows are picked from one sequential decode: seeking to each would decode from the
# keyframe before it, and a short source may have a single keyframe (each window would re-decode the start).
SEQUENTIAL_SECONDS = 120.0
# VMAF on every frame of the top rung's trials: their scores set the CRF of the whole ladder. A frame's score
# depends on its kind (x264's P-frames score 2-4 points above its B-frames) and the windows hold ~25 frames, so
# every 5th frame (5 samples) read the talking head 0.9-1.2 low and its ladder landed that much above the target.
# A scored 720p frame costs ~35 ms, so every frame costs ~0.7 s more per trial: the first trial, which only aims
# the second (one typical-slope step towards the target), keeps every 5th. (Not every 4th or 2nd: one kind only.)
SUBSAMPLE = 1
FIRST_SUBSAMPLE = 5
LOWER_SUBSAMPLE = 7  # the lower rungs' scores only decide whether a rung is kept: coarser is enough (and odd)
# The top rendition's check after the ladder (`transcode_per_title.checked_top`): every 3rd frame samples P- and
# B-frames alike (3 is coprime with x264's mini-GOP of 4) at a third of the cost of every frame.
CHECK_SUBSAMPLE = 3

Size = tuple[int, int]
# What both inputs of every libvmaf run pass through last: frames numbered 0, 1, 2 ... on one time base. libvmaf
# pairs frames by timestamp, and timestamps that only look alike do not pair: a trial in Matroska (milliseconds:
# 33, 67, 100 ms at 29.97 fps) against its raw reference (exact: 33.37, 66.73 ms) paired half the frames with their
# neighbour (a lossless trial scored 51 at 29.97 and 23.976 fps, 65 at 30), and `N/FRAME_RATE/TB` rounds down in
# a 90 kHz time base. Every pair here is the same frames in the same order, so the number is the match. (One
# second apart: the null output, `-fps_mode passthrough`, then sees increasing timestamps at any frame rate.)
NUMBERED = "settb=1,setpts=N"
# The reference windows and the trials, raw: 8-bit 4:2:0 whatever the source (VMAF reads the luma and 8 bits suffice).
REFERENCE_PIX_FMT = "yuv420p"
REFERENCE_BYTES_PER_PIXEL = 1.5
TO_NOWHERE = ["-fps_mode", "passthrough", "-f", "null", "-"]


@dataclass(frozen=True)
class Window:
    start: float
    seconds: float


@dataclass(frozen=True)
class WindowReference:
    """What the analysis keeps for the top rendition's check after the ladder (sequential windows only): the
    trials' reference (the windows' frames at the top rung's size, as the ladder's top rung was encoded from them,
    raw) and the title's first decoded frame (raw: its timestamp places the video against the audio)."""

    frames: Path
    first_frame: Path

    def remove(self) -> None:
        self.frames.unlink(missing_ok=True)
        self.first_frame.unlink(missing_ok=True)


def sample_windows(duration: float, *, seconds: float = WINDOW_SECONDS, count: int | None = None) -> list[Window]:
    """Evenly spread windows: two on a title shorter than SHORT_TITLE_SECONDS, else about one per 10 s (3 to
    MAX_WINDOWS); a very short source is one window."""
    if duration <= 3 * seconds:
        return [Window(0.0, max(0.04, duration))]
    n = count or (2 if duration < SHORT_TITLE_SECONDS else min(MAX_WINDOWS, max(3, round(duration / 10))))
    return [Window(round(max(0.0, (i + 0.5) * duration / n - seconds / 2), 3), seconds) for i in range(n)]


def window_inputs(input_args: Sequence[str], windows: Sequence[Window]) -> list[str]:
    """One ffmpeg input per window: `-ss`/`-t` before the safe input arguments (which end with `-i url`)."""
    args: list[str] = []
    for w in windows:
        args += ["-ss", f"{w.start:.3f}", "-t", f"{w.seconds:.3f}", *input_args]
    return args


def _x264(out: Path, crf: float, preset: str) -> list[str]:
    # One thread: on clips this short, frame threads only add start-up and synchronisation CPU.
    return ["-c:v", "libx264", "-preset", preset, "-crf", f"{crf:g}", "-threads", "1", str(out)]


def sequential(windows: Sequence[Window]) -> bool:
    """Whether the windows are picked from one decode from the start (see SEQUENTIAL_SECONDS)."""
    return max(w.start + w.seconds for w in windows) <= SEQUENTIAL_SECONDS


def reference_and_trial(input_args: Sequence[str], windows: Sequence[Window], *, head_filters: str,
                        video_stream: str, size: Size, fps: float, crf: float, preset: str, work: Path,
                        should_stop: Callable[[], bool] | None = None,
                        decoded_video: Path | None = None, first_frame: Path | None = None) -> tuple[Path, Path]:
    """Decode the windows once: a lossless reference at `size` (raw, so writing it costs nothing) and a trial.

    With `decoded_video` (sequential windows only), the same decode goes on to the end of the source and writes
    every frame, after the ladder's shared filters, to that raw file: the ladder then encodes from it instead of
    decoding the source a second time (on a 90 Mb/s mezzanine the decode is half the ladder's CPU). With
    `first_frame` (sequential windows only), the title's first frame after those filters, raw: its timestamp is
    where the video starts against the audio. Sequential windows are picked by frame number
    (`window_frames`), as the rendition's check picks them from the top rendition.
    """
    n = len(windows)
    tail = f"scale={size[0]}:{size[1]}:flags=bicubic,setsar=1,format={REFERENCE_PIX_FMT},split=2[ref][enc]"
    end = max(w.start + w.seconds for w in windows)
    keep: list[str] = []
    if sequential(windows):
        picked = "+".join(f"between(n,{a},{b})" for a, b in window_frames(windows, fps))
        # Half a second past the last window: frames are numbered from the video's first, which may start late.
        inputs = ["-t", f"{end + 0.5:.3f}", *input_args]
        branches = ["win"]
        if decoded_video is not None:
            inputs = list(input_args)
            branches.append("all")
            keep += ["-map", "[all]", "-c:v", "rawvideo", "-f", "nut", str(decoded_video)]
        if first_frame is not None:
            branches.append("first")
            keep += ["-map", "[one]", "-c:v", "rawvideo", "-f", "nut", str(first_frame)]
        head = f"[0:{video_stream}]{head_filters},"
        if len(branches) > 1:
            head += f"split={len(branches)}" + "".join(f"[{b}]" for b in branches) + ";"
            head += "[first]trim=end_frame=1[one];" if first_frame is not None else ""
            head += "[win]"
        graph = f"{head}select='{picked}',setpts=N/FRAME_RATE/TB,{tail}"
    else:
        inputs = window_inputs(input_args, windows)
        graph = "".join(f"[{i}:{video_stream}]{head_filters},setpts=PTS-STARTPTS[w{i}];" for i in range(n))
        graph += "".join(f"[w{i}]" for i in range(n)) + f"concat=n={n}:v=1:a=0,{tail}"
    reference, trial = work / "reference.nut", work / f"top-{crf:g}.mkv"
    _run(["-loglevel", "error", "-y", *inputs, "-filter_complex", graph,
          "-map", "[ref]", "-c:v", "rawvideo", str(reference), "-map", "[enc]", *_x264(trial, crf, preset), *keep],
         should_stop)
    return reference, trial


def trials_from_reference(reference: Path, encodes: Sequence[tuple[Size, float]], *, preset: str, work: Path,
                          tag: str, should_stop: Callable[[], bool] | None = None) -> list[Path]:
    """Encode the reference once per (size, crf), scaled down from it: one read, one process."""
    graph = f"[0:v]split={len(encodes)}" + "".join(f"[s{i}]" for i in range(len(encodes)))
    maps: list[str] = []
    outputs = []
    for i, ((w, h), crf) in enumerate(encodes):
        graph += f";[s{i}]scale={w}:{h}:flags=bicubic,setsar=1,format=yuv420p[e{i}]"
        out = work / f"{tag}-{i}.mkv"
        maps += ["-map", f"[e{i}]", *_x264(out, crf, preset)]
        outputs.append(out)
    _run(["-loglevel", "error", "-y", "-i", str(reference), "-filter_complex", graph, *maps], should_stop)
    return outputs


def vmaf_scores(distorted: Sequence[Path], reference: Path, size: Size, work: Path,
                should_stop: Callable[[], bool] | None = None, *,
                subsample: int | Sequence[int] = SUBSAMPLE, tags: str = "null") -> list[float]:
    """Mean VMAF of each distorted file against the reference, every picture scaled to `size`.

    One process for all of them: libvmaf's start-up costs about as much as scoring ten 720p frames. The mean
    leaves out the first frame (`per_title.pooled_vmaf`). `tags` (hls.raw_frame_tags: the pictures' colour)
    goes on both sides: the raw reference stores no colour description while the trials' decoder reads one from
    their stream, and scaled as different pictures a lossless trial of a full-range (MJPEG), 4:2:2 DNxHR or
    tone-mapped HDR source scored 52-67.
    """
    n = len(distorted)
    every = [subsample] * n if isinstance(subsample, int) else list(subsample)
    graph = f"[{n}:v]{tags},{NUMBERED},split={n}" + "".join(f"[r{i}]" for i in range(n))
    logs = []
    for i in range(n):
        log = work / f"vmaf-{distorted[i].stem}.json"
        logs.append(log)
        graph += (f";[{i}:v]{tags},scale={size[0]}:{size[1]}:flags=bicubic,format=yuv420p,{NUMBERED}[d{i}]"
                  f";[r{i}]scale={size[0]}:{size[1]}:flags=bicubic,format=yuv420p[rs{i}]"
                  f";[d{i}][rs{i}]libvmaf=log_fmt=json:log_path={log}:n_threads=1:n_subsample={every[i]}")
    args = ["-loglevel", "error", "-y"]
    for path in [*distorted, reference]:
        args += ["-i", str(path)]
    _run([*args, "-filter_complex", graph, *TO_NOWHERE], should_stop)
    return [per_title.pooled_vmaf([(int(f["frameNum"]), float(f["metrics"]["vmaf"]))
                                   for f in json.loads(log.read_text())["frames"]]) for log in logs]


def window_frames(windows: Sequence[Window], fps: float) -> list[tuple[int, int]]:
    """(first, last) frame number of each window in a stream at `fps` that starts at frame 0."""
    return [(round(w.start * fps), max(round(w.start * fps), round((w.start + w.seconds) * fps) - 1))
            for w in windows]


def rendition_vmaf(rendition: Path, reference: WindowReference, plan: hls.TranscodePlan,
                   windows: Sequence[Window], work_dir: Path, *, lead_frames: int = 0,
                   subsample: int = CHECK_SUBSAMPLE, should_stop: Callable[[], bool] | None = None) -> float:
    """VMAF of a rendition (our own HLS output) on the windows' frames, against the trials' reference: the same
    frames before encoding, at the top rung's size (both our own files). The rendition's frames are picked by
    number as the reference's were (`window_frames`), after the `lead_frames` the ladder repeats before a video
    that starts after the audio; then both sides are numbered 0, 1, 2 ... and paired by number.

    Only the segments that hold a window are decoded (`segments_for`), each from its first frame: on a long title
    the top rendition is most of the check's cost, and its windows lie in a few segments."""
    top, fps = plan.rungs[0], float(plan.fps or 25)
    segments = playlists.parse_media_playlist(rendition.read_text())
    inputs: list[str] = []
    picks: list[str] = []
    for i, (first, last, files) in enumerate(segments_for(window_frames(windows, fps), segments, fps, lead_frames)):
        inputs += ["-threads", "1", "-t", f"{(last + 1) / fps + 0.5:.3f}",
                   "-i", "concat:" + "|".join(str(rendition.parent / f) for f in files)]
        picks.append(f"[{i}:v:0]select='between(n,{first},{last})'[w{i}]")
    n = len(picks)
    scaled = f"scale={top.width}:{top.height}:flags=bicubic,setsar=1,format=yuv420p,{NUMBERED}"
    # Tagged as the ladder tags its input, or a full-range or tone-mapped picture is scaled as another one
    # (MJPEG, DNxHR, HDR sources scored 51-66).
    tags = hls.raw_frame_tags(plan)
    with tempfile.TemporaryDirectory(dir=work_dir, prefix="rendition-vmaf-") as tmp:
        log = Path(tmp) / "vmaf.json"
        graph = ";".join(picks) + ";" + "".join(f"[w{i}]" for i in range(n)) + (
            f"concat=n={n}:v=1:a=0,{tags},{scaled}[d];[{n}:v:0]{tags},{scaled}[r];"
            f"[d][r]libvmaf=log_fmt=json:log_path={log}:n_threads=1:n_subsample={subsample}")
        _run(["-loglevel", "error", "-y", *inputs, "-f", "nut", "-i", str(reference.frames),
              "-filter_complex", graph, *TO_NOWHERE], should_stop)
        scored = json.loads(log.read_text())["frames"]
    if not scored:
        raise MediaDecodeError(f"no frames of {rendition.parent.name} in the sampled windows")
    return per_title.pooled_vmaf([(int(f["frameNum"]), float(f["metrics"]["vmaf"])) for f in scored])


def segments_for(frames: Sequence[tuple[int, int]], segments: Sequence[tuple[str, float]], fps: float,
                 lead_frames: int = 0) -> list[tuple[int, int, list[str]]]:
    """For each window's (first, last) frame number: the segments that hold it (each starts with a key frame, so
    decoding can start there) and the window's first and last frame counted from the first of those segments.
    Segment k starts at the frame its playlist durations before it add up to (a constant-rate rendition)."""
    starts = [round(sum(d for _, d in segments[:k]) * fps) for k in range(len(segments) + 1)]
    out = []
    for a, b in frames:
        a, b = a + lead_frames, b + lead_frames
        if not segments or a >= starts[-1]:
            raise MediaDecodeError(f"frame {a} lies past the rendition's end (frame {starts[-1] - 1})")
        k = max(j for j in range(len(segments)) if starts[j] <= a)
        m = max(j for j in range(len(segments)) if starts[j] <= b)
        out.append((a - starts[k], b - starts[k], [uri for uri, _ in segments[k:m + 1]]))
    return out


def first_timestamp(path: Path) -> float | None:
    """The first timestamp (s) of our own raw video file; None when it cannot be read."""
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            for packet in container.demux(stream):
                if packet.pts is not None:
                    return float(packet.pts * packet.time_base)
    except (av.error.FFmpegError, IndexError):
        pass
    return None


def frame_sizes(path: Path) -> list[tuple[int, bool]]:
    """(bytes, keyframe) of every video packet of our own trial encode: demuxed, not decoded."""
    try:
        with av.open(str(path)) as container:
            return [(p.size, bool(p.is_keyframe)) for p in container.demux(video=0) if p.size]
    except av.error.FFmpegError as exc:
        raise MediaDecodeError(f"cannot read the trial encode {path.name}: {exc}") from exc


def analyse(plan: hls.TranscodePlan, input_args: Sequence[str], windows: Sequence[Window], *, target: float,
            min_vmaf_step: float, work_dir: Path, should_stop: Callable[[], bool] | None = None,
            decoded_video: Path | None = None, for_check: WindowReference | None = None,
            ) -> tuple[hls.TranscodePlan, dict[str, Any], dict[str, dict[str, Any]]]:
    """Measure the title on sampled windows, set every rung's CRF and drop the rungs that add nothing.

    1. One decode (with `decoded_video`, of the whole source: see `reference_and_trial`): the reference windows
       at the top rung's size and the top rung at FIRST_CRF; its VMAF.
    2. From the reference: the top rung at a second CRF one typical-slope step towards the target, and every lower
       rung at that CRF; VMAF of each at the top rung's size (what a viewer of the top size sees).
    3. The CRF for the target, interpolated between the two top-rung trials (close to the second, so the error of
       a straight line is small); when it lies more than CHECK_DISTANCE CRF steps from every trial (VMAF flat near
       the trials, as on screen content, then falling), one more top-rung trial there, up to MAX_CHECKS. Rates
       and VMAF of every rung at the final CRF, from the trials.

    With `for_check` (sequential windows only), the trials' reference and the title's first frame stay there for the
    top rendition's check (`rendition_vmaf`).
    """
    top = plan.rungs[0]
    top_size, seconds = (top.width, top.height), sum(w.seconds for w in windows)
    fps = float(plan.fps or 25)
    tags = hls.raw_frame_tags(plan)
    with tempfile.TemporaryDirectory(dir=work_dir, prefix="per-title-") as tmp:
        work = Path(tmp)
        reference, first_path = reference_and_trial(
            input_args, windows, head_filters=hls.video_filters(plan), video_stream=f"v:{plan.video_index}",
            size=top_size, fps=fps, crf=per_title.FIRST_CRF, preset=plan.x264_preset, work=work,
            should_stop=should_stop, decoded_video=decoded_video,
            first_frame=for_check.first_frame if for_check is not None else None)
        first = per_title.Trial(per_title.FIRST_CRF, vmaf_scores([first_path], reference, top_size, work,
                                                                 should_stop, subsample=FIRST_SUBSAMPLE,
                                                                 tags=tags)[0],
                                per_title.window_kbps(frame_sizes(first_path), fps, plan.keyint))
        trials = [first]
        second_crf = per_title.second_trial_crf(first, target, top.maxrate_kbps * per_title.CAP_HEADROOM)
        again = abs(first.vmaf - target) > 0.5 and second_crf != first.crf
        encodes = ([(top_size, second_crf)] if again else []) + [((r.width, r.height), second_crf)
                                                                   for r in plan.rungs[1:]]
        paths = trials_from_reference(reference, encodes, preset=plan.x264_preset, work=work, tag="second",
                                      should_stop=should_stop) if encodes else []
        every = [SUBSAMPLE] * int(again) + [LOWER_SUBSAMPLE] * (len(paths) - int(again))
        scores = vmaf_scores(paths, reference, top_size, work, should_stop, subsample=every,
                             tags=tags) if paths else []
        rates = [per_title.window_kbps(frame_sizes(p), fps, plan.keyint) for p in paths]
        if again:
            trials.append(per_title.Trial(second_crf, scores.pop(0), rates.pop(0)))
        else:  # the first trial is the estimate: score it as closely as a second one would be
            second_crf = first.crf
            trials = [dataclasses.replace(first, vmaf=vmaf_scores([first_path], reference, top_size, work,
                                                                  should_stop, tags=tags)[0])]
        crf, reachable = per_title.top_crf(trials, target, top.maxrate_kbps)
        for check in range(per_title.MAX_CHECKS):  # far from anything measured: measure there first
            if not per_title.needs_check(trials, crf, aims_at_target=reachable):
                break
            [path] = trials_from_reference(reference, [(top_size, crf)], preset=plan.x264_preset, work=work,
                                           tag=f"check{check}", should_stop=should_stop)
            trials.append(per_title.Trial(crf, vmaf_scores([path], reference, top_size, work, should_stop,
                                                           tags=tags)[0],
                                          per_title.window_kbps(frame_sizes(path), fps, plan.keyint)))
            crf, reachable = per_title.top_crf(trials, target, top.maxrate_kbps)
        if for_check is not None:
            reference.replace(for_check.frames)
    top_rate, top_vmaf = per_title.kbps_at(trials, crf), per_title.vmaf_at(trials, crf)
    # The lower rungs were measured at second_crf; at the final CRF they move as the top rung does.
    rate_scale = top_rate / per_title.kbps_at(trials, second_crf)
    vmaf_shift = top_vmaf - per_title.vmaf_at(trials, second_crf)
    estimates = [per_title.RungEstimate(top.name, top_rate, top_vmaf)] + [
        per_title.RungEstimate(r.name, rate * rate_scale, min(100.0, v + vmaf_shift))
        for r, rate, v in zip(plan.rungs[1:], rates, scores, strict=True)]
    capped = not reachable  # no streamable cap reaches the target: say so rather than promise it
    if capped:
        # Heavy grain or noise: the title gets the fixed ladder as it is. Capped CRF at the fixed maxrate (buffer 2x)
        # averaged 6-13 % above the fixed top rung for the same VMAF; its lower rungs, at that CRF, lay on the same
        # rate-quality curves as the fixed ones, further apart, and skipped the fixed 480p where downscaling averages
        # noise away (heavy noise: 81.9 at 1466 kb/s against 80.9 for the 720p at 2910): BD-rate +1 % and +12 %.
        rungs, keep = plan.rungs, [r.name for r in plan.rungs]
        shown = [per_title.at_rate(e, r.video_kbps, trials, crf)
                 for r, e in zip(plan.rungs, estimates, strict=True)]
    else:
        bottom = plan.rungs[-1]
        keep = per_title.choose_rungs(estimates, min_vmaf_step=min_vmaf_step, floor_kbps=bottom.maxrate_kbps)
        caps = {r.name: per_title.capped_rate(e.kbps, r.maxrate_kbps, floor=r is bottom)
                for r, e in zip(plan.rungs, estimates, strict=True)}
        rungs = tuple(dataclasses.replace(r, crf=crf, video_kbps=max(1, round(min(e.kbps, caps[r.name]))),
                                          cap_kbps=caps[r.name])
                      for r, e in zip(plan.rungs, estimates, strict=True) if r.name in keep)
        # What each kept rung shows under its cap (the floor rung's cap may hold it below its unconstrained trial)
        shown = [per_title.under_cap(e, caps[e.name], trials, crf) for e in estimates if e.name in keep]
    decision = {"mode": "per_title", "target_vmaf": target, "crf": crf, "windows": len(windows),
                "sampled_seconds": round(seconds, 3), "trials": [dataclasses.asdict(t) for t in trials],
                "rungs": [dataclasses.asdict(e) | {"kept": e.name in keep} for e in estimates],
                "top_capped": capped}
    quality = {e.name: {"vmaf": round(e.display_vmaf, 2), "target_vmaf": target, "crf": None if capped else crf,
                        "sampled_seconds": round(seconds, 3), "measured_at": f"{top_size[0]}x{top_size[1]}",
                        "measured_on": "trials",
                        "meets_target": (not capped and not per_title.misses_target(e.display_vmaf, target))
                        if e.name == top.name else None}
               for e in shown}
    return dataclasses.replace(plan, rungs=rungs), decision, quality


def _run(args: list[str], should_stop: Callable[[], bool] | None = None) -> None:
    with tempfile.TemporaryFile() as err:
        proc = popen_ffmpeg(args, stdout=subprocess.DEVNULL, stderr=err)
        try:
            while proc.poll() is None:
                if should_stop is not None and should_stop():
                    raise JobCancelledError("quality measurement stopped on request")
                time.sleep(0.05)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        if proc.returncode != 0:  # interrupted or out of disk: retried like the transcode; else MediaDecodeError
            err.seek(0)
            raise ffmpeg_failure("quality measurement", proc.returncode, err.read()[-8000:].decode(errors="replace"),
                                inputs_probed=True)
