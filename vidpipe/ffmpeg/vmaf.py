"""Sampled quality measurement with the bundled ffmpeg (libvmaf): trial encodes of a few windows of the source,
and VMAF of finished renditions on the same windows. The shell around vidpipe.ffmpeg.per_title.

Windows are decoded from the untrusted source with the same safe input arguments as the transcode; everything
else read here is our own output.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from vidpipe.errors import JobCancelledError
from vidpipe.ffmpeg.process import ffmpeg_failure, popen_ffmpeg

WINDOW_SECONDS = 1.0
MAX_WINDOWS = 6
_SUBSAMPLE = 2  # VMAF on every 2nd frame: the score moves by < 0.3 points, the cost halves


@dataclass(frozen=True)
class Window:
    start: float
    seconds: float


def sample_windows(duration: float, *, seconds: float = WINDOW_SECONDS, count: int | None = None) -> list[Window]:
    """Evenly spread windows (about one per 10 s, 3 to MAX_WINDOWS); a short source is one window."""
    if duration <= 3 * seconds:
        return [Window(0.0, max(0.04, duration))]
    n = count or min(MAX_WINDOWS, max(3, round(duration / 10)))
    return [Window(round(max(0.0, (i + 0.5) * duration / n - seconds / 2), 3), seconds) for i in range(n)]


def window_inputs(input_args: Sequence[str], windows: Sequence[Window]) -> list[str]:
    """One ffmpeg input per window: `-ss`/`-t` before the safe input arguments (which end with `-i url`)."""
    args: list[str] = []
    for w in windows:
        args += ["-ss", f"{w.start:.3f}", "-t", f"{w.seconds:.3f}", *input_args]
    return args


def _concat(count: int, stream: str, filters: str, label: str) -> str:
    parts = [f"[{i}:{stream}]{filters},setpts=PTS-STARTPTS[w{label}{i}]" for i in range(count)]
    joined = "".join(f"[w{label}{i}]" for i in range(count))
    return ";".join(parts) + f";{joined}concat=n={count}:v=1:a=0"


def trial_encodes(input_args: Sequence[str], windows: Sequence[Window], *, head_filters: str, video_stream: str,
                  sizes: Sequence[tuple[int, int]], crfs: Sequence[float], preset: str, work: Path,
                  reference_size: tuple[int, int] | None = None, tag: str = "trial",
                  should_stop: Callable[[], bool] | None = None) -> tuple[Path | None, list[Path]]:
    """Encode the windows once per (size, crf) pair, from one decode; optionally a lossless reference too."""
    branches = len(sizes) + (1 if reference_size else 0)
    graph = _concat(len(windows), video_stream, head_filters, "s") + f",split={branches}"
    graph += ("[ref]" if reference_size else "") + "".join(f"[e{i}]" for i in range(len(sizes)))
    args = ["-loglevel", "error", "-y", *window_inputs(input_args, windows)]
    for i, (w, h) in enumerate(sizes):
        graph += f";[e{i}]scale={w}:{h}:flags=bicubic,setsar=1,format=yuv420p[eo{i}]"
    reference = None
    maps: list[str] = []
    if reference_size:
        reference = work / "reference.mkv"
        graph += f";[ref]scale={reference_size[0]}:{reference_size[1]}:flags=bicubic,format=yuv420p[refout]"
        maps += ["-map", "[refout]", "-c:v", "ffv1", str(reference)]
    outputs: list[Path] = []
    for i, crf in enumerate(crfs):
        out = work / f"{tag}-{i}.mkv"
        maps += ["-map", f"[eo{i}]", "-c:v", "libx264", "-preset", preset, "-crf", f"{crf:g}", str(out)]
        outputs.append(out)
    _run([*args, "-filter_complex", graph, *maps], should_stop)
    return reference, outputs


def vmaf_scores(distorted: Sequence[Path], reference: Path, size: tuple[int, int], work: Path,
                should_stop: Callable[[], bool] | None = None) -> list[float]:
    """Mean VMAF of each distorted file against the reference, every picture scaled to `size`."""
    n = len(distorted)
    graph = f"[{n}:v]setpts=PTS-STARTPTS,split={n}" + "".join(f"[r{i}]" for i in range(n))
    logs = []
    for i in range(n):
        log = work / f"vmaf-{i}.json"
        logs.append(log)
        graph += (f";[{i}:v]scale={size[0]}:{size[1]}:flags=bicubic,format=yuv420p,setpts=PTS-STARTPTS[d{i}]"
                  f";[r{i}]scale={size[0]}:{size[1]}:flags=bicubic,format=yuv420p[rs{i}]"
                  f";[d{i}][rs{i}]libvmaf=log_fmt=json:log_path={log}:n_threads=2:n_subsample={_SUBSAMPLE}")
    args = ["-loglevel", "error", "-y"]
    for path in [*distorted, reference]:
        args += ["-i", str(path)]
    _run([*args, "-filter_complex", graph, "-f", "null", "-"], should_stop)
    return [float(json.loads(log.read_text())["pooled_metrics"]["vmaf"]["mean"]) for log in logs]


def kbps(path: Path, seconds: float) -> float:
    return path.stat().st_size * 8 / 1000 / max(0.04, seconds)


def _run(args: list[str], should_stop: Callable[[], bool] | None = None) -> None:
    with tempfile.TemporaryFile() as err:
        proc = popen_ffmpeg(args, stdout=subprocess.DEVNULL, stderr=err)
        try:
            while proc.poll() is None:
                if should_stop is not None and should_stop():
                    raise JobCancelledError("quality measurement stopped on request")
                time.sleep(0.1)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        if proc.returncode != 0:  # interrupted or out of disk: retried like the transcode; else MediaDecodeError
            err.seek(0)
            raise ffmpeg_failure("quality measurement", proc.returncode, err.read()[-8000:].decode(errors="replace"))
