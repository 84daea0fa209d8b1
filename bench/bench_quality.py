"""Understanding quality on real photographs: cuts, duplicates, speech search timing, loudness, cost.

    python bench/bench_quality.py [--sections cuts,dups,speech,loudness,cost]
    (builds bench/out/quality/ once: bench/quality_media.py)

Prints, side by side with baselines run here on the same files:
- cuts: hard-cut recall (+-2 frames), gradual recall (a cut inside the dissolve/fade), false cuts (on the
  flash/whip-pan traps and elsewhere) for vidpipe, PySceneDetect AdaptiveDetector and ContentDetector;
- duplicates: precision over every flagged pair, recall per transform (source <-> copy), top-1 = source,
  for vidpipe (vidpipe.search.duplicates.judge on the pass's fingerprints) and a plain imagehash anchor
  (pHash of a frame per second at equal times, mean distance <= 10 bits, durations within 10 %);
- speech: exact-phrase queries (text embedder over the speech segments): top-3 with the right clip, and
  with the hit's start within +-1 s of the spoken sentence; word error rate;
- loudness: integrated LUFS against FFmpeg's ebur128 (stereo files and 5.1 mixes);
- cost: the analysis pass without speech against `ffmpeg -i f -f null -` on the same files (and the 60 s 1080p
  clip of bench_analysis.py), and what speech adds, as a share of media time.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from itertools import combinations
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import quality_media  # noqa: E402

from vidpipe.analysis import registry  # noqa: E402
from vidpipe.analysis.pipeline import run_pass  # noqa: E402
from vidpipe.ffmpeg.probe import probe_file  # noqa: E402
from vidpipe.ffmpeg.process import ffmpeg_exe  # noqa: E402
from vidpipe.settings import Limits  # noqa: E402

OUT = quality_media.OUT
FPS = quality_media.FPS
NO_SPEECH = [n for n in registry.analyzer_names() if n != "speech"]


def analyse(path: Path, names: list[str], options=None):
    return run_pass(path, probe_file(path, Limits()), registry.build(names, options))


# --- cuts ---------------------------------------------------------------------------------------------------
def score_cuts(found: list[int], truth: dict) -> dict:
    hard, gradual = list(truth["hard"]), [tuple(g) for g in truth["gradual"]]
    hit_h = hit_g = 0
    false_trap = false_other = 0
    for f in sorted(found):
        h = next((x for x in hard if abs(x - f) <= 2), None)
        if h is not None:
            hard.remove(h)
            hit_h += 1
            continue
        g = next((x for x in gradual if x[0] - 2 <= f <= x[1] + 2), None)
        if g is not None:
            gradual.remove(g)
            hit_g += 1
            continue
        if any(a - 8 <= f <= b + 8 for _, a, b in truth["traps"]):
            false_trap += 1
        else:
            false_other += 1
    return {"hard": (hit_h, len(truth["hard"])), "gradual": (hit_g, len(truth["gradual"])),
            "false_traps": false_trap, "false_other": false_other}


def pyscenedetect_cuts(path: Path, kind: str) -> list[int]:
    from scenedetect import AdaptiveDetector, ContentDetector, detect

    detector = AdaptiveDetector() if kind == "adaptive" else ContentDetector()
    scenes = detect(str(path), detector, backend="pyav")
    return [s.frame_num for s, _ in scenes[1:]]


def bench_cuts(truth: dict, label: str = "6 clips") -> None:
    totals: dict[str, dict] = {}
    for name, t in truth.items():
        path = OUT / "cuts" / name
        ours = analyse(path, ["scenes"]).metrics["scenes"]["cuts"]
        runs = {"vidpipe": [round(c * FPS) for c in ours],
                "PySceneDetect Adaptive": pyscenedetect_cuts(path, "adaptive"),
                "PySceneDetect Content": pyscenedetect_cuts(path, "content")}
        for who, found in runs.items():
            s = score_cuts(found, t)
            acc = totals.setdefault(who, {"hard": [0, 0], "gradual": [0, 0], "false_traps": 0, "false_other": 0})
            for k in ("hard", "gradual"):
                acc[k] = [acc[k][0] + s[k][0], acc[k][1] + s[k][1]]
            acc["false_traps"] += s["false_traps"]
            acc["false_other"] += s["false_other"]
    print(f"\nCUTS ({label} of real photographs; hard +-2 frames, gradual = a cut inside the transition)")
    print(f"  {'detector':24s} {'hard recall':>14s} {'gradual recall':>15s} {'false on traps':>15s} "
          f"{'false other':>12s}")
    for who, a in totals.items():
        print(f"  {who:24s} {a['hard'][0] / a['hard'][1]:6.2f} ({a['hard'][0]}/{a['hard'][1]}) "
              f"{a['gradual'][0] / a['gradual'][1]:7.2f} ({a['gradual'][0]}/{a['gradual'][1]}) "
              f"{a['false_traps']:15d} {a['false_other']:12d}", flush=True)


# --- duplicates -------------------------------------------------------------------------------------------
def anchor_hashes(path: Path) -> tuple[list[int], float]:
    import av
    import imagehash

    hashes, next_t = [], 0.0
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        duration = float(stream.duration * stream.time_base) if stream.duration else 0.0
        for frame in c.decode(stream):
            if frame.time is not None and frame.time + 1e-6 >= next_t:
                hashes.append(int(str(imagehash.phash(frame.to_image())), 16))
                next_t += 1.0
    return hashes, duration or len(hashes)


def anchor_score(a: tuple[list[int], float], b: tuple[list[int], float]) -> float | None:
    (ha, da), (hb, db) = a, b
    if min(da, db) / max(da, db) < 0.9:
        return None
    n = min(len(ha), len(hb))
    mean = float(np.mean([(x ^ y).bit_count() for x, y in zip(ha[:n], hb[:n], strict=True)]))
    return 1 - mean / 64 if mean <= 10 else None


def ranked_for(n: str, names: list[str], flagged: dict, fidelity: dict) -> list[str]:
    """n's flagged partners as GET /duplicates orders them: exact ones, then near ones (vidpipe.search.ranking)."""
    from vidpipe.search.ranking import rank_near

    found = [(s, o) for o in names if o != n and (s := flagged.get((n, o)) or flagged.get((o, n)))]
    exact = sorted(o for s, o in found if s > 1.0)
    near = rank_near([f for f in found if f[0] <= 1.0], lambda f: f[0], lambda f: fidelity[f[1]], lambda f: f[1])
    return exact + [o for _, o in near]


def bench_dups(families: dict[str, str]) -> dict[str, float]:
    from vidpipe.search.duplicates import MIN_DURATION_RATIO, frame_hashes, judge
    from vidpipe.search.ranking import Fidelity

    names = sorted(families)
    prints, anchors, loud, fidelity = {}, {}, {}, {}
    for n in names:
        probe = probe_file(OUT / "dups" / n, Limits())  # what media_info holds: bit rate and frame size
        fidelity[n] = Fidelity(probe.get("bit_rate"), (probe.get("width") or 0) * (probe.get("height") or 0))
        result = analyse(OUT / "dups" / n, ["fingerprints", "audio_fingerprint", "loudness"])
        fp = result.understanding.fingerprints
        prints[n] = (frame_hashes(fp["phash"], fp["dhash"]), fp.get("audio"))
        loud[n] = result.metrics["loudness"]["integrated_lufs"]
        anchors[n] = anchor_hashes(OUT / "dups" / n)

    def ours(a: str, b: str):
        (fa, aa), (fb, ab) = prints[a], prints[b]
        if min(fa.duration, fb.duration) < MIN_DURATION_RATIO * max(fa.duration, fb.duration):
            return None
        hit = judge(fa, fb, aa, ab)
        return None if hit is None else (1.0 + hit.score if hit.kind == "exact" else hit.score)

    print("\nDUPLICATES (6 base clips x 10 transforms, 3 shared-music and 3 shared-intro negatives; "
          f"{len(names)} clips, {len(names) * (len(names) - 1) // 2} pairs)")
    for who, fn in (("vidpipe", ours), ("imagehash anchor", lambda a, b: anchor_score(anchors[a], anchors[b]))):
        flagged = {(a, b): s for a, b in combinations(names, 2) if (s := fn(a, b)) is not None}
        true = [p for p in flagged if families[p[0]] == families[p[1]]]
        precision = len(true) / len(flagged) if flagged else 1.0
        per: dict[str, list[int]] = {}
        top1 = top1_strict = copies = 0
        for n in names:
            if "~" not in n:
                continue
            copies += 1
            transform, src = n.split("~")[1][:-4], n.split("~")[0] + ".mp4"
            got = (src, n) in flagged or (n, src) in flagged
            per.setdefault(transform, [0, 0])
            per[transform][0] += got
            per[transform][1] += 1
            ranked = ranked_for(n, names, flagged, fidelity)
            top1_strict += bool(ranked) and ranked[0] == src
            others = [o for o in ranked if "~" not in o or families[o] != families[n]]  # siblings set aside
            top1 += bool(others) and others[0] == src
        neg = [p for p in flagged if families[p[0]] != families[p[1]]]
        recall = sum(v[0] for v in per.values()) / sum(v[1] for v in per.values())
        print(f"  {who}: precision {precision:.2f} ({len(true)}/{len(flagged)} flagged pairs; different-video pairs "
              f"{len(neg)}), recall {recall:.2f}, top-1 = source {top1}/{copies} (siblings aside), "
              f"{top1_strict}/{copies} (strict)")
        print("    per transform: " + ", ".join(f"{k} {v[0]}/{v[1]}" for k, v in per.items()), flush=True)
        if neg:
            print(f"    wrong pairs: {neg[:6]}")
    return loud


# --- speech -------------------------------------------------------------------------------------------------
def word_error_rate(reference: str, hypothesis: str) -> float:
    ref, hyp = reference.lower().split(), hypothesis.lower().split()
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1] / max(1, len(ref))


def bench_speech(truth: dict, sentences: list[str]) -> tuple[float, float]:
    from vidpipe.understanding.config import UnderstandingConfig
    from vidpipe.understanding.derivers import deriver_options
    from vidpipe.understanding.embedders import load_embedder

    options = deriver_options(UnderstandingConfig())
    segments, speech_cpu, media = [], 0.0, 0.0
    wers = []
    for name, lines in truth.items():
        result = analyse(OUT / "speech" / name, ["speech", "text_embeddings"], options)
        speech_cpu += result.timings.get("speech", 0.0)
        media += float(probe_file(OUT / "speech" / name, Limits())["duration"])
        spoken = [s for s in result.understanding.segments if s.kind == "speech"]
        hyp = " ".join(s.text or "" for s in spoken)
        wers.append(word_error_rate(" ".join(sentences[k] for k, _, _ in lines), hyp))
        for s in spoken:
            for v in s.vectors:
                segments.append((name, s.start, s.end, np.asarray(v.values, np.float32)))
    embedder = load_embedder("text", UnderstandingConfig().text_model)
    clip_ok = timed_ok = total = 0
    for name, lines in truth.items():
        for k, start, _ in lines:
            q = embedder.embed_texts([sentences[k]])[0]
            ranked = sorted(segments, key=lambda s: -float(s[3] @ q))[:3]
            total += 1
            clip_ok += any(s[0] == name for s in ranked)
            timed_ok += any(s[0] == name and abs(s[1] - start) <= 1.0 for s in ranked)
    print(f"\nSPEECH (10 sentences, 4 clips, voices {quality_media.VOICES}, 2 clips over music; pocketsphinx)")
    print(f"  exact phrase: right clip in top 3 {clip_ok}/{total}; right clip with start within +-1 s "
          f"{timed_ok}/{total}; mean WER {np.mean(wers):.2f}", flush=True)
    return speech_cpu, media


# --- loudness and cost ----------------------------------------------------------------------------------------
def ebur128(path: Path) -> float:
    err = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostats", "-i", str(path), "-af", "ebur128", "-f", "null",
                          "-"], capture_output=True, text=True, check=True).stderr
    return float(err[err.rindex("Summary:"):].split("I:")[1].split()[0])


def bench_loudness(ours: dict[str, float], surround: list[str]) -> None:
    stereo = [abs(v - ebur128(OUT / "dups" / n)) for n, v in ours.items() if v is not None]
    five = []
    for n in surround:
        m = analyse(OUT / "loud" / n, ["loudness"]).metrics["loudness"]
        five.append(abs(m["integrated_lufs"] - ebur128(OUT / "loud" / n)))
    print(f"\nLOUDNESS vs ffmpeg ebur128: stereo {len(stereo)} files mean |error| {np.mean(stereo):.3f} LU, "
          f"max {max(stereo):.2f}; 5.1 {len(five)} files mean {np.mean(five):.3f}, max {max(five):.2f} LU", flush=True)


def bare_decode(path: Path) -> None:
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-threads", "0", "-i", str(path),
                    "-f", "null", "-"], check=True)


def cpu() -> float:
    import resource

    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def measured(fn) -> tuple[float, float]:
    """(wall, CPU of this process and its children) seconds."""
    w, c = time.perf_counter(), cpu()
    fn()
    return time.perf_counter() - w, cpu() - c


def _rounds(files: list[Path], probes: dict, rounds: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(bare decode, pass) (wall, CPU) totals over `files`, `rounds` times, the two interleaved round by round so
    that a change in the machine's load hits both alike."""
    decode, ours = [], []
    for _ in range(rounds):
        decode.append(np.sum([measured(lambda f=f: bare_decode(f)) for f in files], axis=0))
        selections = {f: registry.build(NO_SPEECH) for f in files}  # built outside the timed part
        ours.append(np.sum([measured(lambda f=f, s=selections: run_pass(f, probes[f], s[f])) for f in files], axis=0))
    return decode, ours


def _report(label: str, decode: list[np.ndarray], ours: list[np.ndarray]) -> None:
    wall = sorted(o[0] / d[0] for d, o in zip(decode, ours, strict=True))
    cpu_ratio = sorted(o[1] / d[1] for d, o in zip(decode, ours, strict=True))
    d, o = np.median(decode, axis=0), np.median(ours, axis=0)
    print(f"  {label}: bare decode wall {d[0]:.1f} s / CPU {d[1]:.1f} s, pass without speech wall {o[0]:.1f} s / "
          f"CPU {o[1]:.1f} s (medians of {len(decode)} rounds); ratio wall {np.median(wall):.2f} "
          f"(rounds {', '.join(f'{r:.2f}' for r in wall)}), CPU {np.median(cpu_ratio):.2f} "
          f"(rounds {', '.join(f'{r:.2f}' for r in cpu_ratio)})", flush=True)


def bench_cost(files: list[Path], speech: tuple[float, float], rounds: int = 3) -> None:
    probes = {f: probe_file(f, Limits()) for f in files}
    # Warm-up, untimed: a worker imports the analyzers' libraries (scipy, PIL's JPEG writer...) once, not per file.
    run_pass(files[0], probes[files[0]], registry.build(NO_SPEECH))
    bare_decode(files[0])
    media = sum(float(p["duration"]) for p in probes.values())
    print(f"\nCOST (load {os.getloadavg()[0]:.1f}): {len(files)} bench files, {media:.0f} s of media")
    _report("bench files", *_rounds(files, probes, rounds))
    import bench_analysis

    big = bench_analysis.clip()  # generated once (shared with bench_analysis.py)
    _report("1080p30 60 s clip", *_rounds([big], {big: probe_file(big, Limits())}, rounds))
    cpu_s, seconds = speech
    if seconds:  # the speech section ran (it needs espeak-ng to build its clips)
        print(f"  speech (VAD + ASR) CPU {cpu_s:.1f} s for {seconds:.0f} s of narration: {cpu_s / seconds:.2f}x real "
              "time", flush=True)


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--sections", default="cuts,dups,speech,loudness,cost")
    wanted = set(parser.parse_args().sections.split(","))
    truth = quality_media.build()
    print(f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")
    if "cuts" in wanted:
        bench_cuts(truth["cuts"])
        bench_cuts(truth["cuts_holdout"], "4 held-out clips (thresholds not tuned on them)")
    loud = bench_dups(truth["dups"]) if wanted & {"dups", "loudness"} else {}
    speech = (bench_speech(truth["speech"], truth["sentences"]) if "speech" in wanted and truth["speech"]
              else (0.0, 0.0))
    if "loudness" in wanted:
        bench_loudness(loud, truth["loud"])
    if "cost" in wanted:
        files = sorted((OUT / "cuts").glob("*.mp4")) + sorted((OUT / "dups").glob("base?.mp4"))
        bench_cost(files, speech)


if __name__ == "__main__":
    main()
