"""Where the per-title transcode's CPU goes: each ffmpeg call of single transcodes, timed by children's rusage.

    python bench/profile_per_title.py [--only slides,film_grain] [--modes fixed,per_title] [--vmaf] [--seconds 8]

Uses the corpus of bench/bench_per_title.py (built there on first use; 8 s sources unless `--seconds`). For every
source and mode it runs the real transcode stage once and prints its CPU (this process + ffmpeg children, user +
system) split into: `first` (the one decode of the windows: raw reference + the first trial), `vmaf` (each
libvmaf run, with its number of instances), `trials` (later trial encodes from the reference) and `ladder` (the
one ladder ffmpeg). `--vmaf` adds the top rung's VMAF over the whole rendition (as the bench measures it). One
run, no repeats: on a shared machine compare parts within a run, not across runs.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_per_title as bench  # noqa: E402

from vidpipe.contract import StageInput  # noqa: E402
from vidpipe.ffmpeg import process, vmaf  # noqa: E402
from vidpipe.ffmpeg.probe import probe_file  # noqa: E402
from vidpipe.profiles import get_profile  # noqa: E402
from vidpipe.settings import Limits  # noqa: E402
from vidpipe.stages import transcode  # noqa: E402

calls: list[tuple[str, float]] = []


def _children() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _own() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _timed(label: Callable[[list[str]], str], run: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(args: list[str], *rest: Any, **kw: Any) -> Any:
        before = _children()
        result = run(args, *rest, **kw)
        calls.append((label(args), _children() - before))
        return result
    return wrapper


def _kind(args: list[str]) -> str:
    if any("libvmaf" in a for a in args):
        return f"vmaf[{sum(a.count('libvmaf') for a in args)}]"
    return "first" if "rawvideo" in args else "trials"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="")
    parser.add_argument("--modes", default="fixed,per_title")
    parser.add_argument("--vmaf", action="store_true")
    parser.add_argument("--seconds", type=float, default=8.0)
    args = parser.parse_args()
    vmaf._run = _timed(_kind, vmaf._run)  # type: ignore[assignment]
    process.run_with_progress = _timed(lambda _: "ladder", process.run_with_progress)  # type: ignore[assignment]
    print(f"load average {os.getloadavg()[0]:.1f}", flush=True)
    sums: dict[str, dict[str, float]] = {}
    for name, source in bench.build_sources(args.seconds, set(filter(None, args.only.split(","))) or None).items():
        for mode in args.modes.split(","):
            calls.clear()
            profile = replace(get_profile("standard"), ladder_mode=mode)
            with tempfile.TemporaryDirectory(prefix="profile-") as tmp:
                inp = StageInput(uuid.uuid4(), source, Path(tmp), profile, Limits(), probe=probe_file(source, Limits()))
                before = _children() + _own()
                result = transcode.run(inp)
                total = _children() + _own() - before
                top = next(r for r in result.renditions if r.kind == "video")
                shown = (f" top {bench._kbps(Path(tmp) / top.playlist_key):.0f}k/"
                         f"{bench._vmaf(Path(tmp) / top.playlist_key, source, (1280, 720), Path(tmp) / 'v.json'):.1f}"
                         if args.vmaf else "")
            parts = sums.setdefault(mode, {})
            parts["total"] = parts.get("total", 0.0) + total
            for kind, cpu in calls:
                key = kind.split("[")[0]
                parts[key] = parts.get(key, 0.0) + cpu
            decision = result.metadata["ladder_decision"]
            trials = [(t["crf"], round(t["vmaf"], 1), round(t["kbps"])) for t in decision.get("trials", [])]
            checks = [(c["crf"], c["vmaf"]) for c in decision.get("rendition_checks", [])]
            print(f"{name:13s} {mode:9s} {total:6.2f} s  " + " ".join(f"{k}={c:.2f}" for k, c in calls)
                  + f"{shown}  crf={decision.get('crf')} trials={trials} checks={checks}", flush=True)
    for mode, parts in sums.items():
        print(f"sum {mode}: " + " ".join(f"{k}={v:.1f}" for k, v in parts.items()))
    print(f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
