"""Per-title ladder vs the fixed ladder: bits, quality (VMAF) and encode CPU on a corpus of different kinds.

    python bench/bench_per_title.py [--seconds 8] [--only slides,grain]

Builds (once, cached in bench/out/per-title/) 8 sources of 1280x720 at 25 fps from ffmpeg's own filters and
scikit-image's photographs: slides, screen recording, animation, talking head (slow Ken Burns), high motion,
film grain, dark scene, fast pan. Each is transcoded by the real transcode stage twice in one process: the
standard ladder with fixed bitrates, and per-title (the default). For every rung it measures the bitrate (all
segments) and VMAF against the source at the source's size (every 2nd frame of the whole rendition).

BD-rate (VMAF): the mean difference in log bitrate between the two rate-quality curves over the VMAF range both
cover (piecewise linear in log rate; with fewer than two per-title points, each per-title point is compared with
the fixed curve interpolated, or extended, at its VMAF). Negative is fewer bits for the same quality.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vidpipe.contract import StageInput  # noqa: E402
from vidpipe.ffmpeg import hls  # noqa: E402
from vidpipe.ffmpeg.probe import probe_file  # noqa: E402
from vidpipe.ffmpeg.process import ffmpeg_exe  # noqa: E402
from vidpipe.profiles import get_profile  # noqa: E402
from vidpipe.settings import Limits  # noqa: E402
from vidpipe.stages import transcode  # noqa: E402

OUT = Path(__file__).resolve().parent / "out" / "per-title"
SIZE = "1280x720"


def _photo(name: str) -> Path:
    """A scikit-image photograph as PNG, fitted to 16:9 with room to pan."""
    from PIL import Image
    from skimage import data

    path = OUT / f"photo-{name}.png"
    if not path.exists():
        arr = getattr(data, name)()
        image = Image.fromarray(arr if arr.ndim == 3 else np.stack([arr] * 3, axis=-1)).convert("RGB")
        image.resize((1920, 1080)).save(path)
    return path


def _sources(seconds: float) -> dict[str, list[str]]:
    s = seconds
    zoom = "zoompan=z='min(zoom+0.0015,1.5)':d={d}:s=" + SIZE + ":fps=25"
    return {
        "slides": ["-loop", "1", "-t", f"{s / 2}", "-i", str(_photo("page")), "-loop", "1", "-t", f"{s / 2}", "-i",
                   str(_photo("text")), "-filter_complex",
                   f"[0:v]scale={SIZE.replace('x', ':')},fps=25[a];[1:v]scale={SIZE.replace('x', ':')},fps=25[b];"
                   "[a][b]concat=n=2:v=1[v]", "-map", "[v]"],
        "screen": ["-f", "lavfi", "-i", f"testsrc=s={SIZE}:r=25:d={s}"],
        "animation": ["-f", "lavfi", "-i", f"life=s=320x180:r=25:mold=10:ratio=0.2:death_color=#203040:"
                      f"life_color=#f0c020,trim=duration={s},scale={SIZE.replace('x', ':')}:flags=neighbor"],
        "talking_head": ["-loop", "1", "-i", str(_photo("astronaut")), "-vf", zoom.format(d=int(25 * s)),
                         "-t", f"{s}"],
        "high_motion": ["-f", "lavfi", "-i", f"testsrc2=s={SIZE}:r=25:d={s},rotate=a=t*2:fillcolor=black"],
        "film_grain": ["-loop", "1", "-i", str(_photo("chelsea")), "-vf",
                       f"scale={SIZE.replace('x', ':')},noise=alls=18:allf=t+u,fps=25", "-t", f"{s}"],
        "dark_scene": ["-loop", "1", "-i", str(_photo("coffee")), "-vf",
                       zoom.format(d=int(25 * s)) + ",eq=brightness=-0.3:contrast=0.7", "-t", f"{s}"],
        "fast_pan": ["-loop", "1", "-i", str(_photo("rocket")), "-vf",
                     "scale=2560:1440,crop=1280:720:x='min(1280,t*400)':y='min(720,t*150)',fps=25", "-t", f"{s}"],
    }


def build_sources(seconds: float, only: set[str] | None) -> dict[str, Path]:
    OUT.mkdir(parents=True, exist_ok=True)
    made = {}
    for name, args in _sources(seconds).items():
        if only and name not in only:
            continue
        path = OUT / f"{name}-{seconds:g}s.mp4"
        if not path.exists():  # a high-quality mezzanine: what an editor would export
            subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y", *args,
                            "-pix_fmt", "yuv420p", "-c:v", "libx264", "-preset", "fast", "-crf", "12",
                            str(path)], check=True)
        made[name] = path
    return made


def _cpu() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def encode(source: Path, mode: str, work: Path) -> tuple[list, float, dict]:
    profile = get_profile("standard")
    from dataclasses import replace
    profile = replace(profile, ladder_mode=mode)
    probe = probe_file(source, Limits())
    inp = StageInput(uuid.uuid4(), source, work, profile, Limits(), probe=probe)
    cpu = _cpu()
    result = transcode.run(inp)
    return result.renditions, _cpu() - cpu, result.metadata


def rung_points(renditions, work: Path, source: Path, size: tuple[int, int]) -> list[tuple[str, float, float]]:
    """(rung, kbps over all segments, VMAF at the source's size over the whole rendition)."""
    points = []
    for r in renditions:
        if r.kind != "video":
            continue
        playlist = work / r.playlist_key
        segments = hls.parse_media_playlist(playlist.read_text())
        bits = sum((playlist.parent / uri).stat().st_size for uri, _ in segments) * 8
        kbps = bits / 1000 / sum(d for _, d in segments)
        log = work / f"vmaf-{r.name}.json"
        graph = (f"[0:v]scale={size[0]}:{size[1]}:flags=bicubic,format=yuv420p,setpts=PTS-STARTPTS[d];"
                 f"[1:v]format=yuv420p,setpts=PTS-STARTPTS[r];"
                 f"[d][r]libvmaf=log_fmt=json:log_path={log}:n_threads=2:n_subsample=2")
        subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-i", str(playlist),
                        "-i", str(source), "-filter_complex", graph, "-f", "null", "-"], check=True)
        vmaf = json.loads(log.read_text())["pooled_metrics"]["vmaf"]["mean"]
        points.append((r.name, kbps, vmaf))
    return points


def _log_rate_at(curve: list[tuple[float, float]], vmaf: float) -> float:
    """log(kbps) on a (vmaf, log kbps) curve sorted by VMAF: linear between points, extended beyond them."""
    if len(curve) == 1:
        return curve[0][1]
    for (v0, r0), (v1, r1) in zip(curve, curve[1:], strict=False):
        if vmaf <= v1 or (v1, r1) == curve[-1]:
            if vmaf < curve[0][0]:
                (v0, r0), (v1, r1) = curve[0], curve[1]
            return r0 + (vmaf - v0) * (r1 - r0) / (v1 - v0 if v1 != v0 else 1e-9)
    return curve[-1][1]


def bd_rate(reference: list[tuple[float, float]], test: list[tuple[float, float]]) -> float:
    """Average bitrate difference (%) of `test` against `reference` at equal VMAF; points are (kbps, vmaf)."""
    ref = sorted((v, math.log(k)) for k, v in reference)
    tst = sorted((v, math.log(k)) for k, v in test)
    low, high = max(ref[0][0], tst[0][0]), min(ref[-1][0], tst[-1][0])
    if len(tst) >= 2 and high - low >= 0.5:
        grid = np.linspace(low, high, 50)
        diff = np.mean([_log_rate_at(tst, v) - _log_rate_at(ref, v) for v in grid])
    else:
        diff = np.mean([r - _log_rate_at(ref, v) for v, r in tst])
    return (math.exp(diff) - 1) * 100


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--only", default="", help="comma-separated source names")
    args = parser.parse_args()
    sources = build_sources(args.seconds, set(filter(None, args.only.split(","))) or None)
    rows, totals = [], {"fixed": [0.0, 0.0], "per_title": [0.0, 0.0]}
    all_bd = []
    started = time.perf_counter()
    for name, source in sources.items():
        size = (1280, 720)
        result = {}
        for mode in ("fixed", "per_title"):
            with tempfile.TemporaryDirectory(prefix=f"bench-{mode}-") as tmp:
                renditions, cpu, meta = encode(source, mode, Path(tmp))
                points = rung_points(renditions, Path(tmp), source, size)
                result[mode] = (points, cpu, meta)
                bits = sum(k for _, k, _ in points)
                totals[mode][0] += bits
                totals[mode][1] += cpu
        fixed, per_title = result["fixed"][0], result["per_title"][0]
        bd = bd_rate([(k, v) for _, k, v in fixed], [(k, v) for _, k, v in per_title])
        all_bd.append(bd)
        target = result["per_title"][2]["ladder_decision"].get("target_vmaf")
        rows.append((name, fixed, per_title, bd, result["fixed"][1], result["per_title"][1], target))
        print(f"{name:13s} BD-rate {bd:+6.1f}%  fixed {_fmt(fixed)}  | per-title {_fmt(per_title)}  "
              f"cpu {result['fixed'][1]:.1f}s -> {result['per_title'][1]:.1f}s", flush=True)
    print(f"\nmachine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; {len(rows)} sources of "
          f"{args.seconds:g} s; {time.perf_counter() - started:.0f} s")
    print(f"BD-rate (VMAF) per source: {', '.join(f'{r[0]} {r[3]:+.1f}%' for r in rows)}")
    print(f"overall BD-rate (mean): {np.mean(all_bd):+.1f}%; worst: {max(all_bd):+.1f}%")
    print(f"total bits (sum of rung bitrates): fixed {totals['fixed'][0]:.0f} kbps, per-title "
          f"{totals['per_title'][0]:.0f} kbps ({(totals['per_title'][0] / totals['fixed'][0] - 1) * 100:+.1f}%)")
    print(f"encode CPU incl. analysis: fixed {totals['fixed'][1]:.1f} s, per-title {totals['per_title'][1]:.1f} s "
          f"({totals['per_title'][1] / totals['fixed'][1]:.2f}x)")
    tops = [(r[0], r[2][0][2], r[6]) for r in rows]
    print("top-rung VMAF vs target: " + ", ".join(f"{n} {v:.1f}/{t}" for n, v, t in tops))


def _fmt(points: list[tuple[str, float, float]]) -> str:
    return " ".join(f"{n}:{k:.0f}k/{v:.1f}" for n, k, v in points)


if __name__ == "__main__":
    main()
