"""Probe + thumbnails against a full decode of the same file.

    python bench/bench_probe_thumbs.py [--runs 3] [--long-gop]

Generates (once, cached in bench/out/) a 60 s 1080p30 H.264/AAC clip (or, with --long-gop, a 10-minute
720p25 clip written with libx264's default GOP: a key frame every 250 frames, B-frames), then measures in one
process:
(a) references: a full decode with the bundled ffmpeg CLI (`-f null`) and with PyAV (thread_type AUTO);
(b) the probe stage + the thumbnails stage (standard profile). Target: (b) <= 0.25x of (a).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import av

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vidpipe.contract import StageInput  # noqa: E402
from vidpipe.ffmpeg import samples  # noqa: E402
from vidpipe.ffmpeg.process import ffmpeg_exe  # noqa: E402
from vidpipe.profiles import get_profile  # noqa: E402
from vidpipe.settings import Limits  # noqa: E402
from vidpipe.stages import probe as probe_stage  # noqa: E402
from vidpipe.stages import thumbnails  # noqa: E402

OUT = Path(__file__).resolve().parent / "out"


def clip() -> Path:
    path = OUT / "bench-1080p30-60s.mp4"
    if not path.exists():
        print("generating the 60 s 1080p30 clip (once) ...", flush=True)
        samples.make_video(path, width=1920, height=1080, seconds=60, preset="veryfast")
    return path


def long_gop_clip() -> Path:
    path = OUT / "bench-720p25-10min-default-gop.mp4"
    if not path.exists():
        print("generating the 10 min 720p long-GOP clip (once) ...", flush=True)
        OUT.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.mp4")
        subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
                        "-f", "lavfi", "-i", "testsrc2=s=1280x720:r=25:d=600",
                        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=600",
                        "-c:v", "libx264", "-preset", "veryfast", "-c:a", "aac", str(tmp)], check=True)
        tmp.rename(path)
    return path


def probe_only(path: Path) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        inp = StageInput(asset_id=uuid.uuid4(), source_path=path, work_dir=Path(tmp),
                         profile=get_profile("standard"), limits=Limits())
        return probe_stage.run(inp).metadata["probe"]


def ffmpeg_decode(path: Path) -> None:
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-i", str(path), "-f", "null",
                    "-"], check=True)


def pyav_decode(path: Path) -> None:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for _ in container.decode(stream):
            pass


def probe_and_thumbnails(path: Path) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        inp = StageInput(asset_id=uuid.uuid4(), source_path=path, work_dir=Path(tmp),
                         profile=get_profile("standard"), limits=Limits())
        probe = probe_stage.run(inp).metadata["probe"]
        inp.probe = probe
        result = thumbnails.run(inp)
        return {"outputs": len(result.outputs), **result.metadata["thumbnails"]}


def _cpu() -> float:
    t = os.times()  # this process and its waited-for children (the ffmpeg CLI)
    return t.user + t.system + t.children_user + t.children_system


def timed(fn, path: Path, runs: int) -> tuple[float, float]:
    """Median wall time and median CPU time (s) over `runs` runs."""
    walls, cpus = [], []
    for _ in range(runs):
        cpu, started = _cpu(), time.perf_counter()
        fn(path)
        walls.append(time.perf_counter() - started)
        cpus.append(_cpu() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per measurement; the median is reported")
    parser.add_argument("--long-gop", action="store_true", help="the 10-minute default-GOP clip")
    args = parser.parse_args()
    path = long_gop_clip() if args.long_gop else clip()
    probe_and_thumbnails(path)  # warm the page cache and imports
    t_ffmpeg = timed(ffmpeg_decode, path, args.runs)
    t_pyav = timed(pyav_decode, path, args.runs)
    t_probe = timed(probe_only, path, args.runs)
    t_ours = timed(probe_and_thumbnails, path, args.runs)
    summary = probe_and_thumbnails(path)
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}, PyAV {av.__version__} "
          f"(FFmpeg {av.ffmpeg_version_info}), ffmpeg CLI {Path(ffmpeg_exe()).name}")
    print(f"clip: {path.name} ({path.stat().st_size / 1e6:.1f} MB), median of {args.runs} runs")
    print(f"{'':34s} {'wall':>8s} {'cpu':>8s}")
    for label, (wall, cpu) in (("full decode, ffmpeg CLI -f null", t_ffmpeg), ("full decode, PyAV thread AUTO", t_pyav),
                               ("probe stage", t_probe), ("probe + thumbnails (standard)", t_ours)):
        print(f"{label:34s} {wall:7.2f}s {cpu:7.2f}s")
    print(f"thumbnails: {summary}")
    print(f"probe alone vs ffmpeg CLI decode: wall {t_probe[0] / t_ffmpeg[0]:.3f}x, "
          f"cpu {t_probe[1] / t_ffmpeg[1]:.3f}x (target <= 0.25x)")
    print(f"ratio vs ffmpeg CLI decode: wall {t_ours[0] / t_ffmpeg[0]:.3f}x, cpu {t_ours[1] / t_ffmpeg[1]:.3f}x "
          "(target <= 0.25x)")
    print(f"ratio vs PyAV decode:       wall {t_ours[0] / t_pyav[0]:.3f}x, cpu {t_ours[1] / t_pyav[1]:.3f}x")


if __name__ == "__main__":
    main()
