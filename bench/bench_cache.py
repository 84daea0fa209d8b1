"""Benchmark cached reads: GET /v1/assets/{id} over Redis, 1,000 assets with Zipf-skewed popularity.

    python bench/bench_cache.py [--assets 1000] [--rate 1000] [--duration 60] [--max-seconds 15] [--no-append]

Everything stays on 127.0.0.1: an embedded PostgreSQL, the Redis on 127.0.0.1:6379 (a unique key prefix,
deleted afterwards) and three servers run the same way (uvicorn, one process, uvloop + httptools, no access log):
the API with its Redis cache, the API with a cache that always misses (every request reads the database),
and a bare Starlette endpoint returning a constant JSON body of the same size. Two load generators:
- an open-loop client (asyncio, raw HTTP/1.1 keep-alive, its own process) sending `--rate` requests/s for
  `--duration` s; latency is measured from each request's scheduled time (no coordinated omission);
- wrk (closed loop, 1 thread, 64 connections, `--max-seconds`) for the maximum throughput of each server,
  a Lua script cycling through Zipf-distributed paths.
Appends (or replaces) the "## Cached reads (Redis)" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from pydantic import SecretStr

from vidpipe.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"
SECTION = "## Cached reads (Redis)"
REDIS_URL = os.environ.get("VIDPIPE_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")


def _settings(data_dir: Path, prefix: str) -> Settings:
    # The limit is on (its counter is part of every request) but high enough for one key at full speed.
    return Settings(data_dir=data_dir, database_url=None, log_level="WARNING", redis_url=SecretStr(REDIS_URL),
                    cache_key_prefix=prefix, rate_limit_per_minute=100_000_000)


def _uvicorn(app, port: int) -> None:  # type: ignore[no-untyped-def]
    import uvicorn

    config = uvicorn.Config(app, host="127.0.0.1", port=port, loop="uvloop", http="httptools", workers=1,
                            log_level="warning", access_log=False, log_config=None, lifespan="on")
    uvicorn.Server(config).run()


def serve_child(mode: str, data_dir: Path, prefix: str, port: int, stats: Path, body_file: Path) -> None:
    """One server process: the API (`cached` or `uncached`) or the bare Starlette baseline."""
    if mode == "bare":
        from starlette.applications import Starlette
        from starlette.responses import Response
        from starlette.routing import Route

        body = body_file.read_bytes()

        async def constant(request):  # type: ignore[no-untyped-def]
            return Response(body, media_type="application/json")

        _uvicorn(Starlette(routes=[Route("/v1/assets/{asset_id}", constant)]), port)
        return

    from vidpipe.cache import Caching
    from vidpipe.cache.memory import MemoryCache
    from vidpipe.runtime import Runtime
    from vidpipe.server import create_app

    class AlwaysMiss(MemoryCache):
        """Every read misses: each request reads the asset view from the database (keys stay verified)."""

        def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
            return [None] * len(keys)

        def set(self, key: str, value: bytes, ttl: float) -> None:
            pass

    settings = _settings(data_dir, prefix)
    rt = Runtime.from_settings(settings, pool_size=20)
    if mode == "uncached":
        rt.cache = Caching.from_settings(settings.updated(popular_warm_count=0), cache=AlwaysMiss())
    app = create_app(rt)
    # uvicorn re-raises SIGTERM after shutting down, so the parent asks for the counters before stopping us.
    breaker = getattr(rt.cache.cache, "breaker", None)
    app.add_api_route("/_bench/stats", lambda: {"fills": rt.cache.reads.fills,
                                                "redis_failures": breaker.failures if breaker else 0},
                      include_in_schema=False)
    _uvicorn(app, port)


def seed(data_dir: Path, prefix: str, count: int) -> tuple[list[uuid.UUID], str]:
    """`count` assets like bench_api's (media info, 4 renditions, 67 artifacts, 3 jobs), by bulk inserts."""
    from sqlalchemy import insert

    from vidpipe.db import apikeys
    from vidpipe.db.models import Artifact, Asset, Job, MediaInfo, Rendition
    from vidpipe.runtime import Runtime

    rt = Runtime.from_settings(_settings(data_dir, prefix), pool_size=2)
    ids = [uuid.uuid4() for _ in range(count)]
    assets, media, renditions, artifacts, jobs = [], [], [], [], []
    for n, aid in enumerate(ids):
        assets.append(dict(id=aid, title=f"Bench asset {n}", description="seeded", tags=["bench", f"n{n % 5}"],
                           source_kind="upload", original_name=f"clip-{n}.mp4", sha256=uuid.uuid4().hex * 2,
                           size_bytes=50_000_000, content_type="video/mp4", original_key=f"{aid}/original",
                           status="ready", profile="standard"))
        media.append(dict(asset_id=aid, format="mov,mp4", duration=60.0 + n, bit_rate=6_000_000, width=1920,
                          height=1080, fps=30.0, video_codec="h264", audio_codec="aac", has_video=True,
                          has_audio=True, rotation=0, probe={"streams": [{"codec": "h264"}, {"codec": "aac"}]}))
        for height, kbps in ((1080, 5000), (720, 2800), (480, 1400), (360, 800)):
            name = f"{height}p"
            renditions.append(dict(asset_id=aid, name=name, kind="video", playlist_key=f"{aid}/hls/{name}/index.m3u8",
                                   width=height * 16 // 9, height=height, bandwidth=kbps * 1000,
                                   codecs="avc1.64001f,mp4a.40.2"))
            artifacts.append(dict(asset_id=aid, stage="transcode", kind="hls_playlist",
                                  key=f"{aid}/hls/{name}/index.m3u8", content_type="application/vnd.apple.mpegurl",
                                  size_bytes=900))
            artifacts += [dict(asset_id=aid, stage="transcode", kind="hls_segment",
                               key=f"{aid}/hls/{name}/seg_{seg:05d}.ts", content_type="video/mp2t",
                               size_bytes=kbps * 500) for seg in range(1, 16)]
        artifacts += [
            dict(asset_id=aid, stage="transcode", kind="hls_master", key=f"{aid}/hls/master.m3u8",
                 content_type="application/vnd.apple.mpegurl", size_bytes=700),
            dict(asset_id=aid, stage="thumbnails", kind="poster", key=f"{aid}/thumbs/poster.jpg",
                 content_type="image/jpeg", size_bytes=40_000),
            dict(asset_id=aid, stage="thumbnails", kind="sprite_vtt", key=f"{aid}/thumbs/sprites.vtt",
                 content_type="text/vtt", size_bytes=3_000)]
        jobs += [dict(asset_id=aid, stage=stage, status="succeeded", attempts=1, progress=1.0, priority=0,
                      max_attempts=5, payload={}, cancel_requested=False)
                 for stage in ("probe", "thumbnails", "transcode")]
    with rt.db.session() as s, s.begin():
        key = apikeys.create_key(s, f"bench-{uuid.uuid4().hex[:6]}").secret
        for model, rows in ((Asset, assets), (MediaInfo, media), (Rendition, renditions), (Artifact, artifacts),
                            (Job, jobs)):
            for i in range(0, len(rows), 5000):
                s.execute(insert(model), rows[i:i + 5000])
    rt.close()
    return ids, key


def zipf_paths(ids: list[uuid.UUID], n: int, s: float = 1.1, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    weights = [1 / (k ** s) for k in range(1, len(ids) + 1)]
    return [f"/v1/assets/{a}" for a in rng.choices(ids, weights=weights, k=n)]


# --- the open-loop load generator (a child process) ---------------------------------------------------------
async def _one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> int:
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    match = re.search(rb"(?i)content-length:\s*(\d+)", head)
    if match:
        await reader.readexactly(int(match.group(1)))
    return status


async def _open_loop(port: int, paths: list[str], key: str, rate: float, duration: float, conns: int) -> dict:
    idle: asyncio.Queue = asyncio.Queue()
    for _ in range(conns):
        idle.put_nowait(await asyncio.open_connection("127.0.0.1", port))
    latencies: list[float] = []
    errors = 0
    total = int(rate * duration)
    tasks = set()

    async def send(scheduled: float, path: str) -> None:
        nonlocal errors
        conn = await idle.get()
        try:
            status = await _one(*conn, f"GET {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {key}\r\n\r\n"
                                .encode())
            if status != 200:
                errors += 1
            latencies.append(time.perf_counter() - scheduled)
            idle.put_nowait(conn)
        except Exception:
            errors += 1
            idle.put_nowait(await asyncio.open_connection("127.0.0.1", port))

    # perf_counter, not loop.time(): uvloop's clock has millisecond resolution.
    start = time.perf_counter() + 0.1
    for i in range(total):
        at = start + i / rate
        delay = at - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(send(at, paths[i % len(paths)]))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - start
    latencies.sort()
    q = lambda p: latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000  # noqa: E731
    return {"requests": total, "errors": errors, "elapsed": elapsed, "achieved_rate": total / elapsed,
            "p50_ms": q(0.50), "p90_ms": q(0.90), "p99_ms": q(0.99), "p999_ms": q(0.999),
            "max_ms": latencies[-1] * 1000}


def loadgen_child(port: int, paths_file: Path, key: str, rate: float, duration: float, out: Path) -> None:
    import uvloop

    paths = paths_file.read_text().split()
    cpu0 = time.process_time()
    result = uvloop.run(_open_loop(port, paths, key, rate, duration, conns=64))
    result["loadgen_cpu_s"] = time.process_time() - cpu0
    out.write_text(json.dumps(result))


# --- the parent ---------------------------------------------------------------------------------------------
def process_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def system_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far (/proc/stat)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    tick = os.sysconf("SC_CLK_TCK")
    return (sum(values) - idle) / tick, sum(values) / tick


def redis_server_cpu() -> float:
    """CPU seconds of the redis-server processes (to tell our load from other people's)."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        if "(redis-server)" in text:
            total += process_cpu(int(stat.parent.name))
    return total


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_ready(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"server on {port} did not start")


def start_server(mode: str, data_dir: Path, prefix: str, work: Path, body_file: Path) -> tuple[subprocess.Popen, int]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, __file__, "--child", mode, str(data_dir), prefix, str(port),
                             str(work / f"stats-{mode}.json"), str(body_file)])
    wait_ready(port)
    return proc, port


def stop_server(proc: subprocess.Popen, port: int) -> dict:
    import httpx

    try:
        stats = httpx.get(f"http://127.0.0.1:{port}/_bench/stats", timeout=10).json()
    except (httpx.HTTPError, ValueError):
        stats = {}
    proc.terminate()
    proc.wait(30)
    return stats


def run_wrk(port: int, script: Path, seconds: int) -> dict:
    out = subprocess.run(["wrk", "-t1", "-c64", f"-d{seconds}s", "--latency", "-s", str(script),
                          f"http://127.0.0.1:{port}"], capture_output=True, text=True, check=True,
                         timeout=seconds + 60).stdout
    rps = float(re.search(r"Requests/sec:\s*([\d.]+)", out).group(1))
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    return {"rps": rps, "errors": errors + (int(non2xx.group(1)) if non2xx else 0),
            "p99_ms": float(p99.group(1)) * scale[p99.group(2)] if p99 else None}


def wrk_script(work: Path, paths_file: Path, key: str) -> Path:
    script = work / "zipf.lua"
    script.write_text(f"""
wrk.headers["Authorization"] = "Bearer {key}"
local paths = {{}}
for line in io.lines("{paths_file}") do paths[#paths + 1] = line end
local i = 0
request = function()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end
""")
    return script


def closed_loop(mode: str, data_dir: Path, prefix: str, work: Path, body_file: Path, script: Path,
                seconds: int, warm: list[str] | None = None) -> dict:
    proc, port = start_server(mode, data_dir, prefix, work, body_file)
    try:
        if warm:
            import httpx

            key = re.search(r'Bearer (\S+)"', script.read_text()).group(1)
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {key}"}) as c:
                for path in warm:
                    c.get(path).raise_for_status()
        cpu0 = process_cpu(proc.pid)
        result = run_wrk(port, script, seconds)
        result["server_cpu_s"] = process_cpu(proc.pid) - cpu0
        result["server_cpu_per_req_ms"] = result["server_cpu_s"] / (result["rps"] * seconds) * 1000
    finally:
        result_stats = stop_server(proc, port)
    result.update(result_stats)
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--assets", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=1000)
    parser.add_argument("--duration", type=float, default=60)
    parser.add_argument("--max-seconds", type=int, default=15)
    parser.add_argument("--no-append", action="store_true")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed (apt-get install -y wrk)")
    import redis

    work = Path(tempfile.mkdtemp(prefix="vidpipe-bench-cache-"))
    data_dir = work / "data"
    prefix = f"vpbench:{uuid.uuid4().hex[:8]}:"
    load_before = os.getloadavg()
    try:
        t0 = time.monotonic()
        ids, key = seed(data_dir, prefix, args.assets)
        print(f"seeded {len(ids)} assets in {time.monotonic() - t0:.1f} s", flush=True)
        paths = zipf_paths(ids, 20_000)
        paths_file = work / "paths.txt"
        paths_file.write_text("\n".join(paths))
        script = wrk_script(work, paths_file, key)
        warm = [f"/v1/assets/{a}" for a in ids]

        # The open-loop run against the cached API, cache warmed first (one read per asset).
        proc, port = start_server("cached", data_dir, prefix, work, work / "unused")
        import httpx

        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {key}"}) as c:
            body = c.get(warm[0]).content
            for path in warm:
                c.get(path).raise_for_status()
        (work / "body.json").write_bytes(body)
        cpu0, sys0, redis0 = process_cpu(proc.pid), system_cpu(), redis_server_cpu()
        out = work / "openloop.json"
        gen = subprocess.Popen([sys.executable, __file__, "--loadgen", str(port), str(paths_file), key,
                                str(args.rate), str(args.duration), str(out)])
        gen.wait(args.duration + 120)
        open_loop = json.loads(out.read_text())
        open_loop["server_cpu_s"] = process_cpu(proc.pid) - cpu0
        sys1 = system_cpu()
        open_loop["machine_busy_s"], open_loop["machine_total_s"] = sys1[0] - sys0[0], sys1[1] - sys0[1]
        open_loop["redis_cpu_s"] = redis_server_cpu() - redis0
        open_loop["others_cpu_s"] = (open_loop["machine_busy_s"] - open_loop["server_cpu_s"]
                                     - open_loop["loadgen_cpu_s"] - open_loop["redis_cpu_s"])
        open_loop.update(stop_server(proc, port))
        open_loop["fills_after_warm"] = open_loop.get("fills", 0) - len(ids)
        print("open loop:", open_loop, flush=True)
        load_mid = os.getloadavg()

        results = {}
        for mode in ("bare", "cached", "uncached"):
            results[mode] = closed_loop(mode, data_dir, prefix, work, work / "body.json", script, args.max_seconds,
                                        warm=warm if mode == "cached" else None)
            print(mode, results[mode], flush=True)
        load_after = os.getloadavg()
    finally:
        client = redis.Redis.from_url(REDIS_URL)
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
        shutil.rmtree(work, ignore_errors=True)
    if not args.no_append:
        write_section(args, open_loop, results, (load_before, load_mid, load_after), len(body))


def write_section(args, open_loop: dict, results: dict, loads, body_bytes: int) -> None:  # type: ignore[no-untyped-def]
    fmt = lambda la: " ".join(f"{x:.2f}" for x in la)  # noqa: E731
    bare, cached, uncached = results["bare"], results["cached"], results["uncached"]
    per_core = lambda r: 1000 / r["server_cpu_per_req_ms"]  # noqa: E731
    text = f"""{SECTION}

`python bench/bench_cache.py --assets {args.assets} --rate {args.rate:g} --duration {args.duration:g} \
--max-seconds {args.max_seconds}`
({datetime.now(UTC):%Y-%m-%d}, {os.cpu_count()} CPUs {platform.machine()}, Python {platform.python_version()})

GET /v1/assets/{{id}} for {args.assets} assets (each with media info, 4 renditions, 67 artifact rows, 3 jobs;
body {body_bytes} bytes), paths drawn from a Zipf distribution (s = 1.1). Servers: uvicorn, one process, uvloop +
httptools, no access log, the same for all three. Redis 7 on 127.0.0.1:6379, embedded PostgreSQL, Bearer-key
auth and the per-key rate-limit counter on every request. Load average before / between / after:
{fmt(loads[0])} / {fmt(loads[1])} / {fmt(loads[2])}.

Open loop, {args.rate:g} requests/s for {args.duration:g} s (cache warmed: one read per asset first; latency from
each request's scheduled send time, 64 connections):

| requests | achieved rate | errors | p50 | p90 | p99 | p99.9 | max | DB reads in run | server CPU | load gen. CPU |
|---|---|---|---|---|---|---|---|---|---|---|
| {open_loop['requests']} | {open_loop['achieved_rate']:.0f} req/s | {open_loop['errors']} | \
{open_loop['p50_ms']:.2f} ms | {open_loop['p90_ms']:.2f} ms | {open_loop['p99_ms']:.2f} ms | \
{open_loop['p999_ms']:.2f} ms | {open_loop['max_ms']:.1f} ms | {open_loop['fills_after_warm']} | \
{open_loop['server_cpu_s']:.1f} s ({open_loop['server_cpu_s'] / open_loop['requests'] * 1000:.3f} ms/req) | \
{open_loop['loadgen_cpu_s']:.1f} s |

During that minute the machine was busy {open_loop['machine_busy_s']:.0f} of {open_loop['machine_total_s']:.0f} CPU
seconds: our API server {open_loop['server_cpu_s']:.1f} s, load generator {open_loop['loadgen_cpu_s']:.1f} s,
redis-server {open_loop['redis_cpu_s']:.1f} s, everything else (PostgreSQL, other people's jobs)
{open_loop['others_cpu_s']:.1f} s.

Closed loop (wrk, 1 thread, 64 connections, {args.max_seconds} s each, Zipf paths):

| server | throughput | errors | p99 | server CPU per request | req/s per core of server CPU |
|---|---|---|---|---|---|
| bare Starlette, constant JSON | {bare['rps']:.0f} req/s | {bare['errors']} | {bare['p99_ms']:.2f} ms | \
{bare['server_cpu_per_req_ms']:.3f} ms | {per_core(bare):.0f} |
| API, Redis cache (hits) | {cached['rps']:.0f} req/s | {cached['errors']} | {cached['p99_ms']:.2f} ms | \
{cached['server_cpu_per_req_ms']:.3f} ms | {per_core(cached):.0f} |
| API, every read from the database | {uncached['rps']:.0f} req/s | {uncached['errors']} | \
{uncached['p99_ms']:.2f} ms | {uncached['server_cpu_per_req_ms']:.3f} ms | {per_core(uncached):.0f} |

Redis errors seen by the cached server (timeouts > 50 ms included): {open_loop.get('redis_failures')} in the
open-loop run, {cached.get('redis_failures')} in the closed-loop run.

Cached / bare throughput: {cached['rps'] / bare['rps'] * 100:.0f}% (by server CPU per request:
{bare['server_cpu_per_req_ms'] / cached['server_cpu_per_req_ms'] * 100:.0f}%). Cached / uncached throughput:
{cached['rps'] / uncached['rps']:.1f}x (server CPU per request {uncached['server_cpu_per_req_ms'] /
cached['server_cpu_per_req_ms']:.1f}x less).
"""
    doc = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    start = doc.find(SECTION)
    if start == -1:
        doc = doc.rstrip("\n") + "\n\n" + text
    else:
        end = doc.find("\n## ", start + len(SECTION))
        doc = doc[:start] + text + (doc[end + 1:] if end != -1 else "")
    DOC.write_text(doc)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        mode, data_dir, prefix, port, stats, body_file = sys.argv[2:8]
        serve_child(mode, Path(data_dir), prefix, int(port), Path(stats), Path(body_file))
    elif len(sys.argv) > 1 and sys.argv[1] == "--loadgen":
        port, paths_file, key, rate, duration, out = sys.argv[2:8]
        loadgen_child(int(port), Path(paths_file), key, float(rate), float(duration), Path(out))
    else:
        main()
