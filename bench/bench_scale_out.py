"""Scale-out of one long video over workers: 1 worker on 1 core vs 2 workers on a core each, and time-to-playable.

    python bench/bench_scale_out.py [--seconds 600 120] [--height 1080] [--ladder per_title|fixed]
                                    [--chunk-seconds 60] [--configs 1,2]

Separate machines are emulated by pinning each worker process (and the ffmpeg it starts, which inherits the
mask) to its own CPU core with os.sched_setaffinity: 1 worker on core 0, then 2 workers on cores 0 and 1 (all
this 2-core machine can show). Each worker runs one job at a time. Every run has a database of its own on the
local PostgreSQL (dropped afterwards) and the real queue, stages and chunked transcode.

The source (cached in bench/out/scale-out/) is ffmpeg's testsrc2 picture plus a tone at the given height, 30
frame/s. The profile is the standard ladder (per-title or fixed) with no analyzers and one sprite a minute, so
the figures are about the transcode. Measured from the moment the upload is complete (the ingest returned):
playable (the asset.playable event: first chunk + audio published), and done (the join finished), plus the
jobs' own durations: the planner (probe → transcode job, per-title included), chunk cost per second of video,
the audio job, the join. Prints JSON; docs/benchmarks.md has the figures and the ECS model built from them.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import select, text  # noqa: E402

from vidpipe.db import migrate  # noqa: E402
from vidpipe.db.database import drop_database, ensure_database  # noqa: E402
from vidpipe.db.models import Asset, Event, Job  # noqa: E402
from vidpipe.db.profiles import ProfileDefinition, RungDefinition, put_profile  # noqa: E402
from vidpipe.ffmpeg.process import ffmpeg_exe  # noqa: E402
from vidpipe.ingest.service import IngestRequest, ingest_path  # noqa: E402
from vidpipe.jobs.queue import PRESENCE_LOCK_SPACE  # noqa: E402
from vidpipe.profiles import STANDARD_LADDER  # noqa: E402
from vidpipe.settings import Settings  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out" / "scale-out"
ADMIN_URL = os.environ.get("BENCH_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
VIDPIPE = str(Path(sys.executable).with_name("vidpipe"))


def make_source(seconds: int, height: int) -> Path:
    path = OUT / f"testsrc2-{height}p-{seconds}s.mp4"
    if not path.is_file() and seconds > 120 and seconds % 120 == 0:
        # Longer sources are the 120 s one repeated, stream-copied (seconds to make, not minutes of encoding).
        part = make_source(120, height)
        listing = OUT / f"concat-{seconds}.txt"
        listing.write_text(f"file '{part}'\n" * (seconds // 120))
        subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "concat", "-safe", "0",
                        "-i", str(listing), "-c", "copy", str(path)], check=True)
    if not path.is_file():
        OUT.mkdir(parents=True, exist_ok=True)
        width = height * 16 // 9
        tmp = path.with_suffix(".part.mp4")
        subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y",
                        "-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate=30",
                        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", str(seconds),
                        "-c:v", "libx264", "-preset", "ultrafast", "-crf", "23", "-g", "60", "-c:a", "aac",
                        "-shortest", str(tmp)], check=True)
        tmp.rename(path)
    return path


def _env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIDPIPE_")}
    values = {"data_dir": settings.data_dir, "database_url": settings.database_url.get_secret_value(),
              "media_dir": settings.media_root, "scratch_dir": settings.scratch_root, "log_level": "WARNING",
              "chunk_threshold_seconds": settings.transcode.chunk_threshold_seconds,
              "chunk_seconds": settings.transcode.chunk_seconds,
              "first_chunk_seconds": settings.transcode.first_chunk_seconds, "job_lease_seconds": 60}
    env |= {f"VIDPIPE_{k.upper()}": str(v) for k, v in values.items()}
    env["PYTHONPATH"] = str(ROOT)
    return env


def _present(rt) -> int:
    with rt.db.session() as s:
        return s.scalar(text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                             "AND classid = :space AND database = (SELECT oid FROM pg_database "
                             "WHERE datname = current_database())"), {"space": PRESENCE_LOCK_SPACE})


def run_once(source: Path, cores: list[int], *, ladder: str, chunk_seconds: float, timeout: float,
             until: str = "done") -> dict:
    from vidpipe.runtime import Runtime

    name = f"longvideo_bench_{uuid.uuid4().hex[:8]}"
    ensure_database(ADMIN_URL, name)
    url = ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    migrate.upgrade(url)
    work = Path(tempfile.mkdtemp(prefix="vidpipe-scale-out-"))
    settings = Settings(data_dir=work / "data", database_url=url, media_dir=work / "media",
                        scratch_dir=work / "scratch", import_roots=[source.parent], chunk_threshold_seconds=20.0,
                        chunk_seconds=chunk_seconds, first_chunk_seconds=8.0)
    rt = Runtime.from_settings(settings, pool_size=3)
    workers: list[subprocess.Popen] = []
    try:
        with rt.db.session() as s, s.begin():
            put_profile(s, "bench", ProfileDefinition(
                ladder=[RungDefinition(height=r.height, video_kbps=r.video_kbps, audio_kbps=r.audio_kbps)
                        for r in STANDARD_LADDER], ladder_mode=ladder, analyzers=[], sprite_interval_seconds=60))
        log = open(work / "workers.log", "wb")  # noqa: SIM115 - closed with the run
        for core in cores:
            proc = subprocess.Popen([VIDPIPE, "worker", "-c", "1"], env=_env(settings), stdout=log,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
            os.sched_setaffinity(proc.pid, {core})  # before it starts any ffmpeg: children inherit the mask
            workers.append(proc)
        deadline = time.monotonic() + 60
        while _present(rt) < len(cores):  # started and listening: start-up is not part of the figure
            assert time.monotonic() < deadline, (work / "workers.log").read_text()[-3000:]
            time.sleep(0.1)
        asset_id = ingest_path(rt, source, IngestRequest(source_kind="path", profile="bench")).asset.id
        uploaded = time.time()
        deadline = time.monotonic() + timeout
        while True:
            with rt.db.session() as s:
                join = s.scalar(select(Job).where(Job.asset_id == asset_id, Job.stage == "transcode_join"))
                asset = s.get(Asset, asset_id)
                if asset.status == "failed":
                    raise RuntimeError(f"asset failed: {asset.error_message}")
                if join is not None and join.status == "succeeded":
                    break
                if until == "playable":
                    playable = s.scalar(select(Event.at).where(Event.asset_id == asset_id,
                                                               Event.event == "asset.playable"))
                    if playable is not None:
                        first = s.scalars(select(Job).where(Job.asset_id == asset_id)).all()
                        by = {(j.stage, j.part): j for j in first}
                        return {"workers": len(cores), "cores": cores,
                                "playable_s": round(playable.timestamp() - uploaded, 2),
                                "probe_s": round((by[("probe", 0)].finished_at - by[("probe", 0)].started_at)
                                                 .total_seconds(), 2),
                                "planner_s": round((by[("transcode", 0)].finished_at
                                                    - by[("transcode", 0)].started_at).total_seconds(), 2)}
            assert time.monotonic() < deadline, f"not done in {timeout} s"
            time.sleep(0.2)
        with rt.db.session() as s:
            jobs = s.scalars(select(Job).where(Job.asset_id == asset_id)).all()
            playable = s.scalar(select(Event.at).where(Event.asset_id == asset_id, Event.event == "asset.playable"))

        def took(j: Job) -> float:
            return round((j.finished_at - j.started_at).total_seconds(), 2)

        chunks = [j for j in jobs if j.stage == "transcode_chunk"]
        chunk_video = sum((j.payload["chunk"]["end_frame"] - j.payload["chunk"]["start_frame"]) for j in chunks) / 30
        by_stage = {j.stage: j for j in jobs if j.stage != "transcode_chunk"}
        return {
            "workers": len(cores), "cores": cores, "chunks": len(chunks),
            "playable_s": round(playable.timestamp() - uploaded, 2),
            "done_s": round(join.finished_at.timestamp() - uploaded, 2),
            "probe_s": took(by_stage["probe"]), "planner_s": took(by_stage["transcode"]),
            "audio_s": took(by_stage["transcode_audio"]), "join_s": took(by_stage["transcode_join"]),
            "first_chunk_s": took(min(chunks, key=lambda j: j.part)),
            "chunk_cpu_s_per_video_s": round(sum(took(j) for j in chunks) / chunk_video, 3),
            "join_wait_s": round((join.started_at - max(j.finished_at for j in chunks)).total_seconds(), 2),
        }
    finally:
        for proc in workers:
            proc.kill()
            proc.wait()
        rt.close()
        drop_database(ADMIN_URL, name)
        shutil.rmtree(work, ignore_errors=True)


def model(*, film_s: float, chunk_s: float, cpu_per_video_s: float, serial_s: float, audio_cpu_per_video_s: float,
          fetch_s: float, per_job_s: float, workers: list[int]) -> list[dict]:
    """Wall time of one film on N single-vCPU workers: the serial part (probe, planner, join), then the chunk
    jobs in waves of N (each: its encode, a source fetch, the job's own overhead), never less than the audio job
    (one encoder for the whole film, running beside the chunks)."""
    chunks = math.ceil(film_s / chunk_s)
    per_chunk = chunk_s * cpu_per_video_s + fetch_s + per_job_s
    audio = film_s * audio_cpu_per_video_s
    rows = []
    for n in workers:
        waves = math.ceil(chunks / n)
        total = serial_s + max(waves * per_chunk, audio)
        rows.append({"workers": n, "waves": waves, "wall_s": round(total), "wall_min": round(total / 60, 1),
                     "speedup": None, "bound": "audio job" if audio > waves * per_chunk else "chunks"})
    for r in rows:
        r["speedup"] = round(rows[0]["wall_s"] / r["wall_s"], 1)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=int, nargs="+", default=[600, 120])
    ap.add_argument("--height", type=int, default=1080)
    ap.add_argument("--ladder", choices=["per_title", "fixed"], default="per_title")
    ap.add_argument("--chunk-seconds", type=float, default=60.0)
    ap.add_argument("--configs", default="1,2", help="worker counts to run, each worker on a core of its own")
    ap.add_argument("--timeout", type=float, default=7200)
    ap.add_argument("--until", choices=["done", "playable"], default="done",
                    help="playable: stop each run once the asset is playable (time-to-playable only)")
    ap.add_argument("--model", action="store_true", help="print the N = 1..50 model of a 2-hour film and exit")
    ap.add_argument("--cpu-per-video-s", type=float, default=1.2, help="chunk encode, vCPU-s per video second")
    ap.add_argument("--serial-s", type=float, default=60.0, help="probe + planner (per-title) + join")
    ap.add_argument("--audio-cpu-per-video-s", type=float, default=0.016)
    ap.add_argument("--fetch-s", type=float, default=0.0, help="source fetch per chunk job")
    ap.add_argument("--per-job-s", type=float, default=1.0, help="claim, publish, record per chunk job")
    args = ap.parse_args()
    if args.model:
        for chunk_s in (60.0, 30.0):
            for r in model(film_s=7200, chunk_s=chunk_s, cpu_per_video_s=args.cpu_per_video_s, serial_s=args.serial_s,
                           audio_cpu_per_video_s=args.audio_cpu_per_video_s, fetch_s=args.fetch_s,
                           per_job_s=args.per_job_s, workers=[1, 2, 4, 8, 16, 24, 32, 40, 50]):
                print(json.dumps({"chunk_s": chunk_s} | r))
        return
    results = []
    for seconds in args.seconds:
        source = make_source(seconds, args.height)
        for n in (int(c) for c in args.configs.split(",")):
            load = os.getloadavg()
            r = run_once(source, list(range(n)), ladder=args.ladder, chunk_seconds=args.chunk_seconds,
                         timeout=args.timeout, until=args.until)
            r |= {"source_s": seconds, "height": args.height, "ladder": args.ladder, "load_before": load,
                  "load_after": os.getloadavg()}
            print(json.dumps(r), flush=True)
            results.append(r)
    for seconds in args.seconds:
        runs = {r["workers"]: r for r in results if r["source_s"] == seconds}
        if 1 in runs and 2 in runs and args.until == "done":
            ratio = round(runs[2]["done_s"] / runs[1]["done_s"], 3)
            print(json.dumps({"source_s": seconds, "done_ratio_2_over_1": ratio,
                              "playable_s": {n: r["playable_s"] for n, r in runs.items()}}))


if __name__ == "__main__":
    main()
