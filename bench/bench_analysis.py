"""The analysis pass (decode once, fan out) against a bare decode and against the naive way.

    python bench/bench_analysis.py [--rounds 1]

On the 60 s 1080p30 H.264/AAC clip (generated once into bench/out/), measures:
(a) a bare decode: the bundled ffmpeg CLI, `ffmpeg -i f -f null -` (video and audio);
(b) our analysis pass, embeddings excluded: every registered analyzer (scenes + key frames, pHash/dHash,
    black, loudness, silence, audio fingerprint, one-shots, speech VAD/ASR) from one video decode and one
    audio decode; reported without and with analyzer construction (model loading); variants: full deblocking
    (b') and 180 px analysis frames (b'');
(c) the naive way: PySceneDetect's own video opening (pyav backend) + ContentDetector, then a separate
    key-frame pass and a separate hashing pass, each decoding the file again.
Targets: b <= 1.5x a; c / b >= 2.5.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from vidpipe.ffmpeg import samples  # noqa: E402
from vidpipe.ffmpeg.process import ffmpeg_exe  # noqa: E402

OUT = Path(__file__).resolve().parent / "out"


def clip() -> Path:
    path = OUT / "bench-1080p30-60s.mp4"
    if not path.exists():
        print("generating the 60 s 1080p30 clip (once) ...", flush=True)
        samples.make_video(path, width=1920, height=1080, seconds=60, preset="veryfast")
    return path


def cpu() -> float:
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def measured(fn):
    w0, c0 = time.perf_counter(), cpu()
    extra = fn()
    return time.perf_counter() - w0, cpu() - c0, extra


def bare_decode(path: Path):
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-i", str(path), "-f", "null",
                    "-"], check=True)


def our_pass(path: Path, *, fast_decode: bool = True, short_side: int = 224):
    from vidpipe.analysis import registry
    from vidpipe.analysis.pipeline import run_pass
    from vidpipe.ffmpeg.probe import probe_file
    from vidpipe.settings import Limits

    probe = probe_file(path, Limits())
    build_start = time.perf_counter()
    selection = registry.build(registry.analyzer_names())  # every analyzer, no derivers (no embeddings)
    build_s = time.perf_counter() - build_start
    result = run_pass(path, probe, selection, fast_decode=fast_decode, short_side=short_side)
    return {"build_s": round(build_s, 2), "timings": result.timings,
            "scenes": result.metrics["scenes"]["scenes"], "status": result.understanding.analyzers}


def naive(path: Path):
    import av
    import imagehash
    from scenedetect import ContentDetector, SceneManager, open_video

    from vidpipe.analysis.scenes import keyframe_score

    video = open_video(str(path), backend="pyav")
    manager = SceneManager()
    manager.add_detector(ContentDetector())
    manager.detect_scenes(video)
    scenes = manager.get_scene_list()
    bounds = [(s.seconds, e.seconds) for s, e in scenes] or [(0.0, 1e9)]
    # Separate key-frame pass: decode everything again, score ~4 candidates/s per scene, keep the best.
    best: dict[int, tuple[float, object]] = {}
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        step = max(1, round(float(stream.average_rate or 30) / 4))
        for i, frame in enumerate(container.decode(stream)):
            if i % step:
                continue
            t = float(frame.time)
            rgb = frame.to_ndarray(width=398, height=224, format="rgb24")
            scene = next((k for k, (a, b) in enumerate(bounds) if a <= t < b), len(bounds) - 1)
            score = keyframe_score(rgb)
            if scene not in best or score > best[scene][0]:
                best[scene] = (score, frame.to_image())
    # Separate hashing pass: decode everything again, pHash one frame per second.
    hashes = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        next_t = 0.0
        for frame in container.decode(stream):
            if frame.time + 1e-6 >= next_t:
                hashes.append(str(imagehash.phash(frame.to_image())))
                next_t += 1.0
    return {"scenes": len(scenes), "keyframes": len(best), "hashes": len(hashes)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    path = clip()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}, "
          f"Python {platform.python_version()}, ffmpeg {ffmpeg_exe()}", flush=True)
    our_pass(path)  # warm-up: imports (torch, onnxruntime, scenedetect) and the page cache
    rows = []
    for r in range(args.rounds):
        a = measured(lambda: bare_decode(path))
        b = measured(lambda: our_pass(path))
        b_full = measured(lambda: our_pass(path, fast_decode=False))
        b_small = measured(lambda: our_pass(path, short_side=180))
        c = measured(lambda: naive(path))
        rows.append((a, b, b_full, b_small, c))
        print(f"round {r + 1}: load {os.getloadavg()[0]:.1f}", flush=True)
        names = ("a ffmpeg -f null", "b analysis pass (224 px)", "b' pass, full deblocking", "b'' pass at 180 px",
                 "c naive")
        for name, (wall, cpu_s, extra) in zip(names, (a, b, b_full, b_small, c), strict=True):
            print(f"  {name:28s} wall {wall:6.2f} s  cpu {cpu_s:6.2f} s  {extra or ''}", flush=True)
        bw_net = b[0] - b[2]["build_s"]
        print(f"  b/a wall {b[0] / a[0]:.2f} (pass without model loading {bw_net / a[0]:.2f}); "
              f"b'/a {b_full[0] / a[0]:.2f}; b''/a {b_small[0] / a[0]:.2f}; c/b wall {c[0] / b[0]:.2f}; "
              f"cpu b/a {b[1] / a[1]:.2f}, b'/a {b_full[1] / a[1]:.2f}, b''/a {b_small[1] / a[1]:.2f}, "
              f"c/b {c[1] / b[1]:.2f}", flush=True)


if __name__ == "__main__":
    main()
