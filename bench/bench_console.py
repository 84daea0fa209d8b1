"""Benchmark the web console: the library page with 10,000 assets, the size of the console's own JS + CSS,
and how fast a status change in the database reaches an open asset page.

    python bench/bench_console.py [--assets 10000] [--requests 200] [--changes 20] [--no-append] [--explain]

A fresh embedded PostgreSQL under a temporary directory is seeded with rows inserted directly (assets with
media info, renditions, artifacts, four stage jobs, machine tags), then the real API runs as `vidpipe serve`
(a child process). Page times are measured by a client on 127.0.0.1 (so they include the loopback round trip);
the status latency is from the COMMIT of `UPDATE assets SET status` to the badge changing in Debian's
Chromium (Playwright), both on the same clock. Appends "## Web console" to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
from sqlalchemy import text

from vidpipe.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"
SECTION = "## Web console"
STATIC = ROOT / "vidpipe" / "web" / "static"
VIDPIPE = str(Path(sys.executable).with_name("vidpipe"))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]

SEED_SQL = [
    # Assets: a mix of statuses, heights and durations so filters select a realistic share.
    """INSERT INTO assets (id, title, description, tags, status, source_kind, original_name, sha256, size_bytes,
                           content_type, original_key, profile, created_at, updated_at)
       SELECT (md5('a' || n)::uuid), 'Bench clip ' || n, 'seeded', ARRAY['bench', 'n' || (n % 7)],
              (ARRAY['ready','ready','ready','ready','ready','ready','processing','queued','failed'])[1 + n % 9],
              'upload', 'clip-' || n || '.mp4', md5('s' || n) || md5('t' || n), 50000000, 'video/mp4',
              md5('a' || n)::uuid || '/original', 'standard',
              now() - make_interval(secs => n * 37), now() - make_interval(secs => n * 37)
         FROM generate_series(1, :n) AS n""",
    """INSERT INTO media_info (asset_id, format, duration, bit_rate, width, height, fps, video_codec, audio_codec,
                               has_video, has_audio, rotation, probe)
       SELECT md5('a' || n)::uuid, 'mov,mp4,m4a,3gp,3g2,mj2', 5 + (n % 600), 6000000,
              (ARRAY[640, 1280, 1920, 3840])[1 + n % 4], (ARRAY[360, 720, 1080, 2160])[1 + n % 4], 30, 'h264', 'aac',
              true, true, 0, '{}'::jsonb
         FROM generate_series(1, :n) AS n""",
    """INSERT INTO renditions (asset_id, name, kind, playlist_key, width, height, bandwidth, codecs)
       SELECT md5('a' || n)::uuid, r.h || 'p', 'video', md5('a' || n)::uuid || '/hls/' || r.h || 'p/index.m3u8',
              r.h * 16 / 9, r.h, r.h * 4000, 'avc1.64001f,mp4a.40.2'
         FROM generate_series(1, :n) AS n, (VALUES (1080), (720), (480), (360)) AS r(h)""",
    """INSERT INTO artifacts (asset_id, stage, kind, key, content_type, size_bytes)
       SELECT md5('a' || n)::uuid, x.stage, x.kind, md5('a' || n)::uuid || '/' || x.k, x.ct, 4000
         FROM generate_series(1, :n) AS n,
              (VALUES ('thumbnails', 'poster', 'thumbs/poster.jpg', 'image/jpeg'),
                      ('thumbnails', 'sprite', 'thumbs/sprite-000.jpg', 'image/jpeg'),
                      ('thumbnails', 'sprite_vtt', 'thumbs/sprites.vtt', 'text/vtt'),
                      ('transcode', 'hls_master', 'hls/master.m3u8', 'application/vnd.apple.mpegurl'))
              AS x(stage, kind, k, ct)""",
    """INSERT INTO jobs (asset_id, stage, status, attempts, max_attempts, progress, priority, cancel_requested, payload,
                         run_after, created_at)
       SELECT md5('a' || n)::uuid, s.stage, 'succeeded', 1, 5, 1.0, 0, false, '{}'::jsonb, now(), now()
         FROM generate_series(1, :n) AS n,
              (VALUES ('probe'), ('thumbnails'), ('transcode'), ('analyze')) AS s(stage)""",
    """INSERT INTO machine_tags (asset_id, label, model, stage, model_version, score)
       SELECT md5('a' || n)::uuid, (ARRAY['outdoor','music','sports','news','cooking'])[1 + n % 5], 'bench-clip',
              'analyze', '1', 0.3 + (n % 7) / 10.0
         FROM generate_series(1, :n) AS n""",
]

PAGES = {
    "first page": "/",
    "filtered: status + resolution + duration": "/?status=ready&min_height=1080&min_duration=60&max_duration=400",
    "filtered: tag (user or machine)": "/?tag=sports",
    "sorted: title, page 1": "/?sort=title",
    "sorted: longest, page 1": "/?sort=longest",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def seed(rt, count: int) -> str:
    from vidpipe.db import apikeys

    started = time.perf_counter()
    with rt.db.session() as s, s.begin():
        for statement in SEED_SQL:
            s.execute(text(statement), {"n": count})
        key = apikeys.create_key(s, "bench").secret
    with rt.db.session() as s, s.begin():
        s.execute(text("ANALYZE"))
    print(f"seeded {count} assets in {time.perf_counter() - started:.1f} s")
    return key


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def time_pages(base: str, cookie: str, requests: int) -> dict[str, dict[str, float]]:
    results: dict[str, dict[str, float]] = {}
    with httpx.Client(base_url=base, cookies={"vidpipe_session": cookie}, timeout=30, trust_env=False) as client:
        for name, path in PAGES.items():
            for _ in range(10):  # warm: connections, plans, templates
                client.get(path).raise_for_status()
            times = []
            for _ in range(requests):
                started = time.perf_counter()
                r = client.get(path)
                times.append(time.perf_counter() - started)
                r.raise_for_status()
            cards = r.text.count('class="card asset-card"')
            size = len(gzip.compress(r.content, 6))
            results[name] = {"p50": statistics.median(times) * 1000, "p95": percentile(times, 0.95) * 1000,
                             "max": max(times) * 1000, "cards": cards, "html_gz": size}
            print(f"{name:45s} p50 {results[name]['p50']:6.1f} ms  p95 {results[name]['p95']:6.1f} ms  "
                  f"({cards} cards, {size / 1024:.1f} KB gz)")
    return results


def asset_sizes() -> dict[str, int]:
    own = [p for p in STATIC.rglob("*") if p.is_file() and p.suffix in (".js", ".css") and "vendor" not in p.parts]
    raw = sum(p.stat().st_size for p in own)
    gz = sum(len(gzip.compress(p.read_bytes(), 9)) for p in own)
    hls = (STATIC / "vendor" / "hls.min.js").read_bytes()
    return {"files": len(own), "raw": raw, "gz": gz, "hls_raw": len(hls), "hls_gz": len(gzip.compress(hls, 9))}


def status_latency(rt, base: str, cookie: str, changes: int) -> list[float]:
    """Commit a status change, wait for the open asset page's badge to show it; milliseconds each."""
    from playwright.sync_api import sync_playwright

    asset_id = str(uuid.UUID(hashlib.md5(b"a1").hexdigest()))  # md5('a' || 1)::uuid of the seed
    latencies: list[float] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
        context = browser.new_context(base_url=base)
        context.add_cookies([{"name": "vidpipe_session", "value": cookie, "url": base}])
        page = context.new_page()
        page.goto(f"/assets/{asset_id}")
        page.evaluate("""() => { window.__seen = {};
            new MutationObserver(() => { const t = document.getElementById('asset-status').textContent;
              if (!(t in window.__seen)) window.__seen[t] = Date.now(); })
            .observe(document.getElementById('asset-status'), {childList: true, characterData: true, subtree: true});
        }""")
        time.sleep(1.5)  # the stream is open and has sent the current state
        statuses = ["processing", "ready"]
        for i in range(changes):
            target = statuses[i % 2]
            page.evaluate("() => { window.__seen = {}; }")
            with rt.db.session() as s, s.begin():
                s.execute(text("UPDATE assets SET status = :s, updated_at = now() WHERE id = CAST(:a AS uuid)"),
                          {"s": target, "a": asset_id})
            committed = time.time() * 1000
            page.wait_for_function("t => t in window.__seen", arg=target, timeout=10_000)
            latencies.append(page.evaluate("t => window.__seen[t]", target) - committed)
            time.sleep(0.3)
        browser.close()
    return latencies


def explain_pages(rt) -> None:
    """The execution time and plan of each page's grid query (EXPLAIN ANALYZE), to tell the database's share of
    a page's time from the rest (reading the cards, rendering, the loopback)."""
    from urllib.parse import parse_qs, urlsplit

    from sqlalchemy import event

    from vidpipe.web import library

    for name, path in PAGES.items():
        params = {k: v[0] for k, v in parse_qs(urlsplit(path).query).items()}
        query = library.LibraryQuery(status=params.get("status"), tag=params.get("tag"),
                                     sort=params.get("sort", "newest"))
        for field, kind in (("min_duration", float), ("max_duration", float), ("min_height", int)):
            if field in params:
                setattr(query, field, kind(params[field]))
        statements: list[tuple[str, object]] = []

        def capture(_conn, _cursor, statement, parameters, _context, _many, into=statements) -> None:
            into.append((statement, parameters))

        with rt.db.session() as s:
            event.listen(rt.db.engine, "before_cursor_execute", capture)
            try:
                library.load_page(s, query, None)
            finally:
                event.remove(rt.db.engine, "before_cursor_execute", capture)
            cursor = s.connection().connection.dbapi_connection.cursor()
            cursor.execute("EXPLAIN (ANALYZE) " + statements[0][0], statements[0][1])
            plan = [row[0] for row in cursor.fetchall()]
        scans = sorted({line.strip().removeprefix("->").strip().split("  ")[0] for line in plan if " Scan " in line})
        print(f"{name:45s} grid query {plan[-1].split(':', 1)[1].strip():>10s}  ({'; '.join(scans)})")


def append_section(body: str) -> None:
    existing = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    start = existing.find(SECTION + "\n")
    if start >= 0:  # replace only our own previous section
        end = existing.find("\n## ", start + len(SECTION))
        existing = existing[:start].rstrip("\n") + ("\n" + existing[end:] if end >= 0 else "\n")
    DOC.write_text(existing.rstrip("\n") + "\n\n" + body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--assets", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--changes", type=int, default=20)
    parser.add_argument("--no-append", action="store_true")
    parser.add_argument("--explain", action="store_true", help="only the grid queries' plans and times")
    args = parser.parse_args()

    from vidpipe.runtime import Runtime

    with tempfile.TemporaryDirectory(prefix="vidpipe-bench-console-", ignore_cleanup_errors=True) as tmp:
        data_dir = Path(tmp) / "data"
        rt = Runtime.from_settings(Settings(data_dir=data_dir, database_url=None, log_level="WARNING"))
        server = None
        try:
            key = seed(rt, args.assets)
            if args.explain:
                explain_pages(rt)
                return
            port = free_port()
            env = {k: v for k, v in os.environ.items() if not k.startswith("VIDPIPE_")}
            env |= {"VIDPIPE_DATA_DIR": str(data_dir), "VIDPIPE_LOG_LEVEL": "WARNING"}
            server = subprocess.Popen([VIDPIPE, "serve", "--port", str(port)], env=env, stdin=subprocess.DEVNULL,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 90
            while True:
                try:
                    if httpx.get(f"{base}/readyz", timeout=2, trust_env=False).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("the API did not become ready")
                time.sleep(0.2)
            signed = httpx.post(f"{base}/session", json={"api_key": key}, headers={"Origin": base}, trust_env=False)
            signed.raise_for_status()
            cookie = signed.cookies["vidpipe_session"]
            pages = time_pages(base, cookie, args.requests)
            sizes = asset_sizes()
            print(f"own JS + CSS: {sizes['files']} files, {sizes['raw'] / 1024:.1f} KB, "
                  f"{sizes['gz'] / 1024:.1f} KB gzip; hls.min.js {sizes['hls_gz'] / 1024:.1f} KB gzip")
            latencies = status_latency(rt, base, cookie, args.changes)
            print(f"status change -> asset page: p50 {statistics.median(latencies):.0f} ms, "
                  f"p95 {percentile(latencies, 0.95):.0f} ms, max {max(latencies):.0f} ms")
        finally:
            if server is not None and server.poll() is None:
                os.killpg(server.pid, signal.SIGTERM)
                server.wait(timeout=30)
            rt.close()

    if args.no_append:
        return
    rows = "\n".join(f"| {name} | `{PAGES[name]}` | {r['cards']} | {r['p50']:.1f} ms | **{r['p95']:.1f} ms** | "
                     f"{r['max']:.1f} ms | {r['html_gz'] / 1024:.1f} KB |" for name, r in pages.items())
    body = f"""{SECTION}

`python bench/bench_console.py` ({datetime.now(UTC):%Y-%m-%d}, {os.cpu_count()} cores, Python
{platform.python_version()}): {args.assets:,} assets inserted directly (each with media info, 4 renditions,
4 artifacts, 4 stage jobs and a machine tag) into the embedded PostgreSQL; `vidpipe serve` in a child process;
{args.requests} sequential requests per page with a browser session cookie, after 10 warm-up requests, timed
by a client on 127.0.0.1 (loopback included). Target: p95 < 150 ms for the first and for a filtered page.

| library page | URL | cards | p50 | p95 | max | HTML gzip |
|---|---|---:|---:|---:|---:|---:|
{rows}

The console's own JavaScript + CSS ({sizes['files']} files, no build step): {sizes['raw'] / 1024:.1f} KB,
**{sizes['gz'] / 1024:.1f} KB gzip** (target < 100 KB). The vendored hls.js 1.7.4 adds
{sizes['hls_gz'] / 1024:.1f} KB gzip ({sizes['hls_raw'] / 1024:.0f} KB raw), on the asset page only.

Status change to an open asset page (Chromium via Playwright; Server-Sent Events fed by the database's
notifications): from the COMMIT of an `UPDATE assets SET status` to the badge changing, {args.changes} changes:
p50 **{statistics.median(latencies):.0f} ms**, p95 {percentile(latencies, 0.95):.0f} ms, max
{max(latencies):.0f} ms (target < 1 s).
"""
    append_section(body)
    print(f"appended {SECTION!r} to {DOC.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
