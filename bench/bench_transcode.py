"""Benchmark: the transcode stage against a hand-written single ffmpeg command and one ffmpeg run per rung.

Run:  python bench/bench_transcode.py [--repeat N]   (about 3 minutes a round on 2 cores; source cached in bench/out/)

Wall time is what a job waits; CPU time (ours + ffmpeg children) is what it costs, and is the steadier
figure when other work shares the machine. Each method's best of N rounds is reported; rounds interleave.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import time
import uuid
from pathlib import Path

from vidpipe.contract import StageInput
from vidpipe.ffmpeg import samples
from vidpipe.ffmpeg.process import run_ffmpeg
from vidpipe.profiles import get_profile
from vidpipe.settings import Limits
from vidpipe.stages import transcode

OUT = Path(__file__).parent / "out"
SOURCE = OUT / "bench-1080p30-60s.mp4"
# (short side, width, video kbps, audio kbps): the standard ladder, as a person would type it.
LADDER = [(1080, 1920, 5000, 128), (720, 1280, 2800, 128), (480, 854, 1400, 128), (360, 640, 800, 96)]
GOP = ["-g", "120", "-keyint_min", "120", "-sc_threshold", "0", "-force_key_frames", "expr:gte(t,n_forced*4)"]
HLS = ["-f", "hls", "-hls_time", "4", "-hls_playlist_type", "vod", "-hls_flags", "independent_segments",
       "-start_number", "1"]


def fresh(name: str) -> Path:
    path = OUT / name
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def _cpu() -> float:
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def timed(label: str, fn) -> tuple[float, float]:
    cpu, start = _cpu(), time.perf_counter()
    fn()
    wall, cpu = time.perf_counter() - start, _cpu() - cpu
    print(f"{label:<44} wall {wall:7.1f} s   cpu {cpu:7.1f} s", flush=True)
    return wall, cpu


def stage() -> None:
    work = fresh("a_stage")
    transcode.run(StageInput(uuid.uuid4(), SOURCE, work, get_profile("standard"), Limits()))


def reference_single() -> None:
    out = fresh("b_reference")
    graph = "[0:v]fps=30,split=4[s0][s1][s2][s3];" + ";".join(
        f"[s{i}]scale={w}:{h}[v{i}]" for i, (h, w, _, _) in enumerate(LADDER))
    args = ["-i", str(SOURCE), "-filter_complex", graph]
    for i, (_, _, vk, ak) in enumerate(LADDER):
        args += ["-map", f"[v{i}]", "-map", "0:a:0", f"-b:v:{i}", f"{vk}k", f"-maxrate:v:{i}", f"{int(vk * 1.07)}k",
                 f"-bufsize:v:{i}", f"{vk * 3 // 2}k", f"-b:a:{i}", f"{ak}k"]
    args += ["-c:v", "libx264", "-preset", "veryfast", *GOP, "-c:a", "aac", *HLS,
             "-hls_segment_filename", f"{out}/%v/seg_%05d.ts", "-master_pl_name", "master.m3u8",
             "-var_stream_map", " ".join(f"v:{i},a:{i},name:{h}p" for i, (h, _, _, _) in enumerate(LADDER)),
             f"{out}/%v/index.m3u8"]
    run_ffmpeg(args)


def per_rung() -> None:
    out = fresh("c_per_rung")
    for h, w, vk, ak in LADDER:
        (out / f"{h}p").mkdir()
        run_ffmpeg(["-i", str(SOURCE), "-map", "0:v:0", "-map", "0:a:0", "-vf", f"fps=30,scale={w}:{h}",
                    "-c:v", "libx264", "-preset", "veryfast", "-b:v", f"{vk}k", "-maxrate", f"{int(vk * 1.07)}k",
                    "-bufsize", f"{vk * 3 // 2}k", *GOP, "-c:a", "aac", "-b:a", f"{ak}k", *HLS,
                    "-hls_segment_filename", f"{out}/{h}p/seg_%05d.ts", f"{out}/{h}p/index.m3u8"])


METHODS = {"a": ("(a) transcode stage, one process", stage),
           "b": ("(b) hand-written single ffmpeg command", reference_single),
           "c": ("(c) one ffmpeg run per rung (4 runs)", per_rung)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=1)
    opts = parser.parse_args()
    if not SOURCE.exists():
        print("generating the 60 s 1080p30 source clip ...", flush=True)
        samples.make_video(SOURCE, width=1920, height=1080, seconds=60, preset="veryfast")
    best: dict[str, tuple[float, float]] = {}
    for round_no in range(opts.repeat):
        print(f"-- round {round_no + 1}/{opts.repeat}", flush=True)
        for key, (label, fn) in METHODS.items():
            wall, cpu = timed(label, fn)
            old = best.get(key, (float("inf"), float("inf")))
            best[key] = (min(old[0], wall), min(old[1], cpu))
    (aw, ac), (bw, bc), (cw, cc) = best["a"], best["b"], best["c"]
    print(f"best of {opts.repeat}: a {aw:.1f} s / {ac:.1f} cpu-s, b {bw:.1f} s / {bc:.1f} cpu-s, "
          f"c {cw:.1f} s / {cc:.1f} cpu-s")
    print(f"a/b = {aw / bw:.3f} wall, {ac / bc:.3f} cpu   (target <= 1.10)")
    print(f"a/c = {aw / cw:.3f} wall, {ac / cc:.3f} cpu   (target clearly < 1)")
    print(f"realtime factor of (a): {60 / aw:.2f}x")


if __name__ == "__main__":
    main()
