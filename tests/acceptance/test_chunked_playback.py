"""A chunked transcode plays in hls.js (Debian's Chromium via Playwright): seeking to just before every chunk
boundary, playback runs through it (time advances past it) with no hls.js error and no media error; its subtitle
rendition shows its cues at the source's times."""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from vidpipe.db.models import Asset, Job
from vidpipe.ffmpeg import samples
from vidpipe.ffmpeg.process import run_ffmpeg
from vidpipe.ingest.service import IngestRequest, ingest_path
from vidpipe.jobs.worker import Worker

playwright_api = pytest.importorskip("playwright.sync_api")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path("/usr/bin/chromium").exists() and os.environ.get("CI") != "true",
                       reason="needs Debian's chromium (CI installs it)"),
]

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--autoplay-policy=no-user-gesture-required"]
HLS_JS = Path(__file__).resolve().parents[2] / "vidpipe" / "web" / "static" / "vendor" / "hls.min.js"
PAGE = """<!doctype html><html><body><video id="video" muted playsinline width="640"></video>
<script src="hls.min.js"></script><script>
window.hlsErrors = [];
const hls = new Hls({ maxBufferLength: 4 });
hls.on(Hls.Events.ERROR, (_e, d) => window.hlsErrors.push(`${d.type}/${d.details}/${d.fatal} ` +
  `${d.frag ? d.frag.type + ' sn ' + d.frag.sn : ''} ${d.reason || ''} ${d.error ? d.error.message : ''} ` +
  `at ${document.getElementById('video').currentTime.toFixed(2)}`));
hls.loadSource('media/hls/master.m3u8');
hls.attachMedia(document.getElementById('video'));
</script></body></html>"""


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        return None


@pytest.fixture
def chunked_asset(runtime, tmp_path) -> tuple[Path, list[float], float]:
    """A 24 s clip transcoded in chunks (2 s segments, 6 s chunks): its media dir, chunk starts, duration."""
    rt = runtime
    t = rt.settings.transcode
    t.chunk_threshold_seconds, t.chunk_seconds, t.first_chunk_seconds = 10, 6, 2
    plain = samples.make_video(tmp_path / "plain.mp4", width=640, height=360, seconds=24, scene_seconds=3)
    srt = tmp_path / "eng.srt"  # a cue across the chunk boundary at 8 s
    srt.write_text("1\n00:00:01,000 --> 00:00:02,000\nFirst\n\n2\n00:00:07,500 --> 00:00:08,500\nAcross\n")
    clip = tmp_path / "long.mkv"
    run_ffmpeg(["-i", str(plain), "-i", str(srt), "-map", "0", "-map", "1", "-c", "copy", "-c:s", "srt",
                "-metadata:s:s:0", "language=eng", str(clip)])
    asset_id: uuid.UUID = ingest_path(rt, clip, IngestRequest(source_kind="path", profile="preview"),
                                      roots=[clip.parent]).asset.id
    worker = Worker(rt, concurrency=2)
    worker.start()
    try:
        deadline = time.monotonic() + 240
        while True:
            with rt.db.session() as s:
                asset = s.get(Asset, asset_id)
                if asset.status in ("ready", "failed"):
                    break
            assert time.monotonic() < deadline, "the asset did not finish"
            time.sleep(0.2)
    finally:
        worker.request_stop()
        worker.join(timeout=30)
    assert asset.status == "ready", asset.error_message
    with rt.db.session() as s:
        chunks = s.scalars(select(Job).where(Job.asset_id == asset_id, Job.stage == "transcode_chunk")).all()
        starts = sorted(j.payload["chunk"]["start_frame"] / Fraction(j.payload["chunk"]["fps"]) for j in chunks)
        duration = float(s.get(Asset, asset_id).media_info.duration)
    return rt.settings.media_root / str(asset_id), [float(t) for t in starts[1:]], duration


@pytest.fixture
def served(chunked_asset, tmp_path) -> Iterator[tuple[str, list[float], float]]:
    media, boundaries, duration = chunked_asset
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text(PAGE)
    shutil.copy(HLS_JS, site / "hls.min.js")
    (site / "media").symlink_to(media)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(site)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/index.html", boundaries, duration
    finally:
        server.shutdown()


def test_playback_runs_through_every_chunk_boundary(served):
    url, boundaries, duration = served
    assert len(boundaries) >= 3
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page_errors: list[str] = []
            page.on("pageerror", lambda e: page_errors.append(str(e)))
            page.goto(url)
            page.wait_for_function("() => document.getElementById('video').readyState >= 1", timeout=30_000)
            assert abs(page.evaluate("() => document.getElementById('video').duration") - duration) <= 0.1
            # Start-up: the first video segment can land before the first audio one; the element's buffered range
            # is the two tracks' intersection, so hls.js notes (non-fatal) that the append added no coverage.
            # Only what happens from here on, while seeking and playing through the boundaries, counts.
            page.wait_for_function("() => document.getElementById('video').buffered.length > 0", timeout=30_000)
            assert not [e for e in page.evaluate("() => window.hlsErrors") if "/true" in e]
            page.evaluate("() => { window.hlsErrors = []; }")
            for b in boundaries:
                page.evaluate("t => { const v = document.getElementById('video'); v.currentTime = t; v.play(); }",
                              b - 0.6)
                # time advances across the boundary: the segments on both sides decode and join up
                page.wait_for_function("t => document.getElementById('video').currentTime > t", arg=b + 0.6,
                                       timeout=30_000)
                page.evaluate("() => document.getElementById('video').pause()")
                # no hole in what was buffered around the boundary (audio and video both, the element's range)
                covered = page.evaluate("""t => { const b = document.getElementById('video').buffered;
                    for (let i = 0; i < b.length; i++) if (b.start(i) <= t - 0.5 && b.end(i) >= t + 0.5) return true;
                    return false; }""", b)
                assert covered, f"a hole in the buffer around the chunk boundary at {b:.3f} s"
            state = page.evaluate("() => ({error: document.getElementById('video').error, "
                                  "errors: window.hlsErrors})")
            assert state == {"error": None, "errors": []}, state
            # The subtitle rendition (written by the audio job): its cues land where the source has them, so the
            # X-TIMESTAMP-MAP matches the chunks' timeline (a wrong one shifts every cue by a second or more).
            page.evaluate("() => { hls.subtitleDisplay = true; hls.subtitleTrack = 0;"
                          " const v = document.getElementById('video'); v.currentTime = 7; return v.play(); }")
            page.wait_for_function("() => [...document.getElementById('video').textTracks].some(t => t.cues"
                                   " && [...t.cues].some(c => c.text === 'Across'))", timeout=20_000)
            cues = dict(page.evaluate("() => [...document.getElementById('video').textTracks].flatMap(t =>"
                                      " t.cues ? [...t.cues].map(c => [c.text, [c.startTime, c.endTime]]) : [])"))
            assert cues["Across"] == [pytest.approx(7.5, abs=0.1), pytest.approx(8.5, abs=0.1)], cues
            assert not page_errors, page_errors
        finally:
            browser.close()
