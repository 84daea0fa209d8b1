"""The web console in a real browser (Debian's Chromium driven by Playwright) against a real `vidpipe up` on
the embedded default: sign in, upload, watch it become ready, play, switch rungs, search speech, see a corrupt
file's reason, retry a dead job, edit a profile, and the sign-in / CSRF fences.

One `vidpipe up` serves the whole module (starting it costs ~10 s); the tests run in file order and later ones
use what earlier ones uploaded. Each saves a screenshot into docs/screenshots/."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import soundfile

from tests.acceptance.conftest import Processes, base_env, free_port, wait_for
from vidpipe.ffmpeg import samples
from vidpipe.ffmpeg.process import run_ffmpeg

playwright_api = pytest.importorskip("playwright.sync_api")

pytestmark = [
    pytest.mark.slow,
    # Locally it may skip; in CI (which installs Chromium) a missing browser is a failure, not a skip.
    pytest.mark.skipif(not Path("/usr/bin/chromium").exists() and os.environ.get("CI") != "true",
                       reason="needs Debian's chromium (CI installs it)"),
]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--autoplay-policy=no-user-gesture-required"]
# Every run saves its screenshots; they replace the README's pictures only when asked
# (VIDPIPE_UPDATE_SCREENSHOTS=1), so a test run leaves the work tree clean.
SCREENSHOTS = (Path(__file__).resolve().parents[2] / "docs" / "screenshots"
               if os.environ.get("VIDPIPE_UPDATE_SCREENSHOTS") == "1"
               else Path(tempfile.gettempdir()) / "vidpipe-screenshots")
PAGES = ["/", "/upload", "/search", "/jobs", "/profiles", "/assets/00000000-0000-0000-0000-000000000000"]
PHRASE = "please call me tomorrow morning at nine"
READY_TIMEOUT = 120


@dataclass
class Console:
    base: str
    key: str
    env: dict[str, str]
    data_dir: Path
    procs: Processes
    assets: dict[str, str] = field(default_factory=dict)  # file name -> asset id, filled as tests upload

    def api(self) -> httpx.Client:
        return httpx.Client(base_url=self.base, timeout=20, trust_env=False, headers={"X-API-Key": self.key})

    def sql(self, statement: str, **params: Any) -> list[list[Any]]:
        """Run one statement on the server's embedded database from a helper process (as `vidpipe keys` does)."""
        script = (
            "import json, sys\n"
            "from pathlib import Path\n"
            "from sqlalchemy import create_engine, text\n"
            "from vidpipe.db.database import start_embedded\n"
            "engine = create_engine(start_embedded(Path(sys.argv[1]) / 'postgres'))\n"
            "with engine.begin() as c:\n"
            "    r = c.execute(text(sys.argv[2]), json.loads(sys.argv[3]))\n"
            "    print(json.dumps([list(row) for row in r] if r.returns_rows else [], default=str))\n"
            "engine.dispose()\n"
        )
        out = subprocess.run([sys.executable, "-c", script, str(self.data_dir), statement, json.dumps(params)],
                             env=self.env, capture_output=True, text=True, timeout=60, start_new_session=True)
        assert out.returncode == 0, out.stderr[-3000:]
        return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    root = tmp_path_factory.mktemp("console")
    (root / "logs").mkdir()
    procs = Processes(root / "logs")
    data_dir = root / "data"
    procs.pg_dirs.append(data_dir / "postgres")
    env = base_env(data_dir=data_dir, job_lease_seconds=5, job_heartbeat_seconds=0.5, job_backoff_base_seconds=0.2,
                   job_backoff_max_seconds=1, worker_concurrency=2) | {"HF_HUB_OFFLINE": "1"}
    port = free_port()
    try:
        up = procs.spawn(["up", "--port", str(port)], env, name="up")
        base = f"http://127.0.0.1:{port}"

        def healthy() -> bool:
            try:
                return httpx.get(f"{base}/healthz", timeout=2, trust_env=False).status_code == 200
            except httpx.TransportError:
                return False

        wait_for(healthy, timeout=90, interval=0.3, what="`vidpipe up` to answer /healthz", procs=[up])
        keys = procs.run(["keys", "create", "console"], env, timeout=60)
        assert keys.returncode == 0, keys.stderr
        yield Console(base, keys.stdout.strip().splitlines()[-1].strip(), env, data_dir, procs)
        assert "Traceback" not in up.output(), up.output()[-4000:]
    finally:
        procs.kill_all()


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("clips")
    found = {
        "bars.mp4": samples.make_video(d / "bars.mp4", width=320, height=180, seconds=4, fps=15, scene_seconds=2),
        "ladder.mp4": samples.make_video(d / "ladder.mp4", width=640, height=360, seconds=6, fps=15, scene_seconds=2),
        "broken.mp4": samples.make_random_bytes(d / "broken.mp4", size=64 * 1024),
    }
    if shutil.which("espeak-ng"):
        found["speech.mp4"] = spoken_clip(d)
    return found


def spoken_clip(d: Path) -> Path:
    """The phrase spoken by espeak-ng at 1 s into a 6 s clip (mono 16 kHz voice, mixed into quiet noise)."""
    voice = d / "voice.wav"
    subprocess.run(["espeak-ng", "-s", "140", "-w", str(voice), PHRASE], check=True, capture_output=True)
    noise = d / "noise.wav"
    rate = 16_000
    soundfile.write(noise, (0.003 * np.random.default_rng(5).standard_normal(6 * rate)).astype(np.float32), rate)
    out = d / "speech.mp4"
    run_ffmpeg(["-f", "lavfi", "-i", "testsrc2=s=320x180:r=15:d=6", "-i", str(noise), "-i", str(voice),
                "-filter_complex", "[2:a]adelay=1000|1000,aresample=48000[v];[1:a]aresample=48000[n];"
                "[n][v]amix=inputs=2:duration=first:normalize=0[a]",
                "-map", "0:v", "-map", "[a]", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
                "-c:a", "aac", "-b:a", "96k", "-ac", "2", "-t", "6", str(out)])
    return out


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: Any, console: Console) -> Iterator[Any]:
    """A signed-in page (1280 px wide); page errors fail the test."""
    context = browser.new_context(viewport={"width": 1280, "height": 860}, base_url=console.base)
    p = context.new_page()
    errors: list[str] = []
    p.on("pageerror", lambda e: errors.append(str(e)))
    sign_in(p, console.key, "/")
    yield p
    context.close()
    assert not errors, errors


def sign_in(p: Any, key: str, target: str) -> None:
    """Keyboard only: the key field has focus on arrival; type, Enter."""
    p.goto(target)
    p.wait_for_url(re.compile(r"/signin\?next="))
    p.wait_for_selector("#api_key:focus")  # autofocus lands a moment after `load`
    p.keyboard.type(key)
    p.keyboard.press("Enter")
    p.wait_for_url(re.compile(re.escape(target) + "$"))


def shot(p: Any, name: str, *, full_page: bool = True) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    p.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page)


def upload(p: Any, files: list[Path], profile: str) -> None:
    p.goto("/upload")
    p.wait_for_selector(f"#profile option[value='{profile}']", state="attached")
    p.select_option("#profile", profile)
    p.set_input_files("#files", [str(f) for f in files])


def upload_row(p: Any, name: str) -> Any:
    return p.locator(f"#uploads li[data-name='{name}']")


def wait_row(p: Any, name: str, statuses: str, timeout: float = READY_TIMEOUT) -> str:
    p.wait_for_function("([name, wanted]) => { const r = document.querySelector(`#uploads li[data-name='${name}']`);"
                        " return r && wanted.split('|').includes(r.dataset.status); }", arg=[name, statuses],
                        timeout=timeout * 1000)
    return upload_row(p, name).get_attribute("data-status")


def asset_id_of(p: Any, name: str) -> str:
    href = upload_row(p, name).locator("a").get_attribute("href")
    return href.rsplit("/", 1)[1]


# Form controls and buttons a screen reader could not name (every control must have a label).
UNLABELLED = """() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea, button')]
  .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !e.getAttribute('aria-labelledby')
               && !(e.tagName === 'BUTTON' && e.textContent.trim()))
  .map(e => e.outerHTML.slice(0, 80))"""


def video_state(p: Any) -> dict[str, Any]:
    return p.evaluate("() => { const v = document.getElementById('video'); return {t: v.currentTime,"
                      " w: v.videoWidth, error: v.error && v.error.code, paused: v.paused}; }")


def play(p: Any) -> None:
    p.evaluate("() => { const v = document.getElementById('video'); v.muted = true; return v.play(); }")


# --- the fences ------------------------------------------------------------------------------------------------
def test_every_page_redirects_to_sign_in_and_cross_site_posts_are_refused(console: Console, browser: Any) -> None:
    with httpx.Client(base_url=console.base, timeout=10, trust_env=False) as anon:
        for path in PAGES:
            r = anon.get(path)
            assert r.status_code == 303, (path, r.status_code)
            assert r.headers["location"].startswith("/signin?next="), r.headers["location"]
        assert anon.get("/signin").status_code == 200
        assert anon.get("/v1/assets").status_code == 401
        # A sign-in posted from another site is refused (no login CSRF).
        r = anon.post("/session", data={"api_key": console.key},
                      headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"})
        assert r.status_code == 403, r.text
        # Signed in (the browser's way): a state change with the session cookie but from another site, or
        # without the CSRF header, is refused; the same request from this origin with the token passes.
        r = anon.post("/session", json={"api_key": console.key}, headers={"Origin": console.base})
        assert r.status_code == 200, r.text
        token = r.json()["csrf_token"]
        body = {"ladder": [{"height": 240, "video_kbps": 300}]}
        cross = anon.put("/v1/profiles/evil", json=body, headers={"X-CSRF-Token": token,
                                                                 "Origin": "https://evil.example",
                                                                 "Sec-Fetch-Site": "cross-site"})
        assert cross.status_code == 403, cross.text
        assert anon.put("/v1/profiles/evil", json=body, headers={"Origin": console.base}).status_code == 403
        same = anon.put("/v1/profiles/fence-ok", json=body, headers={"X-CSRF-Token": token, "Origin": console.base,
                                                                    "Sec-Fetch-Site": "same-origin"})
        assert same.status_code == 201, same.text
        assert anon.delete("/v1/profiles/fence-ok", headers={"X-CSRF-Token": token, "Origin": console.base}
                           ).status_code == 204
    # In the browser: a page asked for without a session lands on the sign-in form, which comes back to it.
    context = browser.new_context(base_url=console.base)
    p = context.new_page()
    p.goto("/jobs")
    assert "/signin?next=%2Fjobs" in p.url
    p.fill("#api_key", "vp_wrong")
    p.press("#api_key", "Enter")
    p.wait_for_selector("#signin-error:not([hidden])")
    assert "not valid" in p.inner_text("#signin-error").lower() or "key" in p.inner_text("#signin-error").lower()
    shot(p, "signin")
    p.fill("#api_key", console.key)
    p.press("#api_key", "Enter")
    p.wait_for_url(re.compile(r"/jobs$"))
    context.close()


# --- upload, live status, playback --------------------------------------------------------------------------
def test_upload_goes_ready_live_and_plays(console: Console, clips: dict[str, Path], page: Any) -> None:
    files = [clips["bars.mp4"], *([clips["speech.mp4"]] if "speech.mp4" in clips else [])]
    # The connection drops as the first chunk's answer comes back: the page asks the server where it got to
    # (HEAD) and finishes from there instead of starting over.
    patches: list[str] = []
    dropped: list[str] = []

    def drop_first_answer(route: Any) -> None:
        request = route.request
        if request.method != "PATCH":
            route.continue_()
            return
        patches.append(request.url)
        if dropped:
            route.continue_()
            return
        route.fetch()  # the server gets (and keeps) the chunk ...
        dropped.append(request.url)
        route.abort("connectionreset")  # ... but the browser never hears back

    page.route("**/v1/uploads/*", drop_first_answer)
    upload(page, files, "preview")
    for f in files:  # one progress bar per file
        expect_progress = upload_row(page, f.name).locator("progress")
        assert expect_progress.count() == 1
    page.wait_for_selector("#uploads li[data-name='bars.mp4'] a", timeout=60_000)
    asset_id = asset_id_of(page, "bars.mp4")
    console.assets["bars.mp4"] = asset_id
    assert dropped and patches.count(dropped[0]) == 2, patches  # resumed once, not restarted
    page.unroute("**/v1/uploads/*")
    # The asset page opened while it is processing turns `ready` by itself (no reload).
    asset_page = page.context.new_page()
    asset_page.goto(f"/assets/{asset_id}")
    asset_page.evaluate("() => { window.__loaded = performance.timeOrigin; }")
    asset_page.wait_for_function("() => document.getElementById('asset-status').textContent === 'ready'",
                                 timeout=READY_TIMEOUT * 1000)
    assert asset_page.evaluate("() => window.__loaded === performance.timeOrigin")  # the same document
    assert wait_row(page, "bars.mp4", "ready") == "ready"
    shot(page, "upload")
    # The player plays.
    asset_page.wait_for_function("() => document.getElementById('video').readyState >= 1", timeout=30_000)
    play(asset_page)
    asset_page.wait_for_function("() => document.getElementById('video').currentTime > 1", timeout=30_000)
    state = video_state(asset_page)
    assert state["w"] > 0 and state["error"] is None, state
    stages = asset_page.locator("#stages li").evaluate_all("els => els.map(e => e.dataset.status)")
    assert stages and all(s == "succeeded" for s in stages), stages
    asset_page.evaluate("() => document.getElementById('video').pause()")
    shot(asset_page, "asset", full_page=False)
    asset_page.close()
    if "speech.mp4" in clips:
        assert wait_row(page, "speech.mp4", "ready|failed") == "ready"
        console.assets["speech.mp4"] = asset_id_of(page, "speech.mp4")


def test_corrupt_upload_shows_its_reason(console: Console, clips: dict[str, Path], page: Any) -> None:
    upload(page, [clips["broken.mp4"]], "preview")
    status = wait_row(page, "broken.mp4", "failed|rejected", timeout=60)
    text = upload_row(page, "broken.mp4").locator(".state").inner_text()
    assert status in ("failed", "rejected")
    reason = text.split(":", 1)[1].strip() if ":" in text else ""
    assert len(reason) > 5, text
    assert "Traceback" not in page.content()
    shot(page, "upload-rejected", full_page=False)


# --- the asset page's tools ---------------------------------------------------------------------------------
def test_asset_page_scrubs_seeks_scenes_edits_reprocesses_and_deletes(console: Console, page: Any) -> None:
    bars = console.assets.get("bars.mp4")
    if bars is None:
        pytest.skip("needs the upload of the upload test")
    page.goto(f"/assets/{bars}")
    page.wait_for_function("() => document.getElementById('video').readyState >= 1", timeout=30_000)
    # Scrub previews from the sprite sheet's WebVTT: hovering the position slider shows a tile.
    box = page.locator("#scrub").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] / 2)
    preview = page.locator("#scrub-preview")
    preview.wait_for(state="visible", timeout=5_000)
    assert "sprite-000.jpg" in preview.locator(".img").evaluate("e => e.style.backgroundImage")
    # Scenes: the strip seeks the player (keyboard: focus the button, Enter).
    scenes = page.locator("#scenes button")
    assert scenes.count() >= 2
    second = float(scenes.nth(1).get_attribute("data-start"))
    scenes.nth(1).focus()
    page.keyboard.press("Enter")
    page.wait_for_function("t => Math.abs(document.getElementById('video').currentTime - t) < 0.5", arg=second)
    # Edit, reprocess.
    page.fill("#e-title", "Colour bars")
    page.fill("#e-tags", "bars, test")
    page.click("#edit-form button[type=submit]")
    page.wait_for_function("() => document.getElementById('edit-msg').textContent === 'Saved.'")
    assert page.inner_text("#asset-title") == "Colour bars"
    page.select_option("#r-stage", "thumbnails")
    page.click("#reprocess-form button[type=submit]")
    page.wait_for_function("() => document.getElementById('reprocess-msg').textContent.startsWith('Queued thumbnails')")
    page.wait_for_function("() => document.getElementById('asset-status').textContent === 'ready'"
                           " && document.querySelector('#stages li[data-stage=thumbnails]').dataset.status"
                           " === 'succeeded'", timeout=60_000)
    page.goto("/?tag=test")
    assert page.locator(".asset-card .title").all_inner_texts() == ["Colour bars"]
    # Delete the corrupt upload (after a confirmation).
    broken = page.locator(".asset-card", has_text="broken")
    page.goto("/?status=failed")
    broken.locator("a.title").click()
    page.once("dialog", lambda d: d.accept())
    page.click("#delete")
    page.wait_for_url(re.compile(r"/$"))
    assert page.locator(".asset-card", has_text="broken").count() == 0


# --- search ------------------------------------------------------------------------------------------------
def test_spoken_phrase_is_found_and_the_hit_seeks_the_player(console: Console, page: Any) -> None:
    if "speech.mp4" not in console.assets:
        pytest.skip("needs espeak-ng and the speech upload of the upload test")
    speech_id = console.assets["speech.mp4"]
    page.goto("/search")
    page.fill("#q", "call me tomorrow morning")
    page.check("input[name=modality][value=speech]")
    page.press("#q", "Enter")
    link = page.locator(f"#hits a[href^='/assets/{speech_id}?t=']").first
    link.wait_for(timeout=30_000)
    shot(page, "search")
    start = float(link.get_attribute("data-start"))
    link.click()
    page.wait_for_url(re.compile(rf"/assets/{speech_id}\?t="))
    page.wait_for_function("() => document.getElementById('video').readyState >= 1", timeout=30_000)
    page.wait_for_function("t => Math.abs(document.getElementById('video').currentTime - t) < 0.6", arg=start,
                           timeout=15_000)
    # The transcript is the captions track.
    assert page.locator("#video track").get_attribute("src").endswith("/analysis/captions.vtt")


# --- profiles: edited in the form, used by the next upload; quality menu switches rungs -------------------
def test_profile_edited_in_the_form_is_used_and_the_lowest_rung_plays(console: Console, clips: dict[str, Path],
                                                                      page: Any) -> None:
    page.goto("/profiles")
    page.click("#new-profile")
    page.fill("#pf-name", "tworung")
    page.fill("#pf-segment", "2")
    page.fill("#pf-sprite", "2")
    page.select_option("#pf-preset", "ultrafast")
    rung = page.locator("#rungs tbody tr").first.locator("input")
    rung.nth(0).fill("361")  # odd: the server says why
    rung.nth(1).fill("600")
    rung.nth(2).fill("96")
    page.uncheck("#pf-default-analyzers")
    page.check("input[name=analyzer][value=scenes]")
    page.fill("#pf-chunk-threshold", "600")
    page.fill("#pf-chunk-seconds", "1")  # less than a segment (2 s): the server says why
    page.click("#profile-form button[type=submit]")
    error = page.locator("#err-ladder-0-height")
    error.wait_for()
    assert "even" in error.inner_text(), error.inner_text()
    assert rung.nth(0).get_attribute("aria-invalid") == "true"
    assert page.get_attribute("#pf-chunk-seconds", "aria-invalid") == "true"
    assert "one segment (2 s)" in page.inner_text("#err-chunk-seconds")
    shot(page, "profile-validation", full_page=False)
    rung.nth(0).fill("360")
    page.fill("#pf-chunk-seconds", "30")
    page.click("#profile-form button[type=submit]")
    page.locator("#profiles tr[data-profile=tworung]").wait_for()
    with console.api() as api:
        stored = api.get("/v1/profiles/tworung").json()
    assert (stored["chunk_threshold_seconds"], stored["chunk_seconds"]) == (600, 30)
    # Edit: the chunk settings come back as saved; add the lowest rung.
    page.click("#profiles tr[data-profile=tworung] button:has-text('Edit')")
    assert (page.input_value("#pf-chunk-threshold"), page.input_value("#pf-chunk-seconds")) == ("600", "30")
    assert page.input_value("#pf-chunking") == "auto"
    page.select_option("#pf-chunking", "never")  # one job per video: the numbers are disabled and not sent
    assert page.is_disabled("#pf-chunk-threshold") and page.is_disabled("#pf-chunk-seconds")
    page.click("#add-rung")
    new = page.locator("#rungs tbody tr").nth(1).locator("input")
    new.nth(0).fill("144")
    new.nth(1).fill("150")
    new.nth(2).fill("64")
    page.click("#profile-form button[type=submit]")
    page.wait_for_function("() => document.querySelector('#profiles tr[data-profile=tworung]')"
                           ".textContent.includes('144p')")
    with console.api() as api:
        stored = api.get("/v1/profiles/tworung").json()
    assert (stored["chunking"], stored["chunk_threshold_seconds"], stored["chunk_seconds"]) == ("never", None, None)
    shot(page, "profiles")

    upload(page, [clips["ladder.mp4"]], "tworung")
    page.wait_for_selector("#uploads li[data-name='ladder.mp4'] a", timeout=60_000)
    assert wait_row(page, "ladder.mp4", "ready|failed") == "ready"
    asset_id = asset_id_of(page, "ladder.mp4")
    with console.api() as api:
        asset = api.get(f"/v1/assets/{asset_id}").json()
    assert asset["profile"] == "tworung"
    assert sorted(r["height"] for r in asset["renditions"] if r["kind"] == "video") == [144, 360]

    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(f"/assets/{asset_id}")
    page.wait_for_function("() => document.querySelectorAll('#quality option').length === 3", timeout=30_000)
    play(page)
    page.select_option("#quality", page.locator("#quality option", has_text="360p").get_attribute("value"))
    page.wait_for_function("() => document.body.dataset.level === '360'", timeout=20_000)
    wait_for(lambda: any("/hls/360p/" in u and not u.split("?")[0].endswith(".m3u8") for u in requests),
             timeout=20, what="a 360p segment request")
    requests.clear()
    page.select_option("#quality", page.locator("#quality option", has_text="144p").get_attribute("value"))
    page.wait_for_function("() => document.body.dataset.level === '144'", timeout=20_000)
    wait_for(lambda: any("/hls/144p/" in u and not u.split("?")[0].endswith(".m3u8") for u in requests),
             timeout=20, what="a 144p segment request after switching to the lowest rung")
    page.wait_for_function("() => document.getElementById('video').videoHeight === 144", timeout=20_000)
    assert video_state(page)["error"] is None


# --- jobs ----------------------------------------------------------------------------------------------------
def test_dead_job_retried_from_the_jobs_page_runs_again(console: Console, page: Any) -> None:
    asset_id = console.assets.get("bars.mp4")
    if asset_id is None:
        pytest.skip("needs the upload of the upload test")
    rows = console.sql("UPDATE jobs SET status = 'dead', last_error_code = 'worker_lost', "
                       "last_error = 'simulated: the worker vanished three times', finished_at = now() "
                       "WHERE id = (SELECT max(id) FROM jobs "
                       "            WHERE asset_id = CAST(:a AS uuid) AND stage = 'thumbnails') "
                       "RETURNING id", a=asset_id)
    job_id = rows[0][0]
    page.goto("/jobs")
    row = page.locator(f"#dead tr[data-job-id='{job_id}']")
    row.wait_for(timeout=10_000)
    assert "simulated: the worker vanished" in row.inner_text()
    # The asset is named by its title (with its poster), not by a raw id.
    with console.api() as api:
        title = api.get(f"/v1/assets/{asset_id}").json()["title"] or "bars.mp4"
    link = row.locator("a.asset-link")
    assert link.get_attribute("href") == f"/assets/{asset_id}"
    assert title in link.inner_text() and asset_id[:8] not in row.inner_text(), row.inner_text()
    shot(page, "jobs")
    row.get_by_role("button", name=f"Retry job {job_id}").click()
    row.wait_for(state="detached", timeout=10_000)
    assert "queued again" in page.inner_text("#jobs-msg")
    with console.api() as api:
        wait_for(lambda: api.get(f"/v1/jobs/{job_id}").json()["status"] == "succeeded", timeout=60,
                 what=f"job {job_id} to run again")
        job = api.get(f"/v1/jobs/{job_id}").json()
    assert job["attempts"] >= 1 and job["status"] == "succeeded"


# --- library -------------------------------------------------------------------------------------------------
def test_library_filters_and_reads_at_360px(console: Console, page: Any) -> None:
    page.goto("/")
    cards = page.locator(".asset-card")
    assert cards.count() >= 2
    shot(page, "library")
    page.select_option("#f-status", "ready")
    page.click(".filters button[type=submit]")
    page.wait_for_url(re.compile(r"status=ready"))
    statuses = page.locator(".asset-card .badge").all_inner_texts()
    assert statuses and set(statuses) == {"ready"}, statuses
    page.goto("/?min_height=300")
    titles = page.locator(".asset-card .title").all_inner_texts()
    assert titles == ["ladder"] or all("ladder" in t for t in titles), titles
    page.goto("/?min_duration=abc")
    assert "must be a number" in page.inner_text("main")
    # Bad addresses get a readable page, never a stack trace or a JSON body.
    for path, status, words in (("/?sort=" + "x" * 50, 400, "parameter"), ("/assets/nope", 404, "no asset"),
                                (f"/assets/{'0' * 8}-0000-0000-0000-{'0' * 12}", 404, "not found"),
                                ("/?cursor=garbage", 200, "out of date")):
        r = page.goto(path)
        assert r.status == status, (path, r.status)
        assert words in page.inner_text("main").lower(), (path, page.inner_text("main"))
        assert "Traceback" not in page.content()
    page.set_viewport_size({"width": 360, "height": 740})
    for path in ["/", "/upload", "/search", "/jobs", "/profiles", f"/assets/{console.assets.get('bars.mp4', '')}"]:
        page.goto(path)
        page.wait_for_load_state("networkidle")
        assert page.evaluate(UNLABELLED) == [], path
        overflow = page.evaluate("() => document.scrollingElement.scrollWidth - window.innerWidth")
        wide = page.evaluate("() => [...document.querySelectorAll('body *')].filter(e => e.offsetParent !== null"
                             " && e.getBoundingClientRect().right > window.innerWidth + 1)"
                             ".slice(-5).map(e => e.tagName + '.' + e.className)")
        assert overflow <= 1, (path, overflow, wide)
    page.goto("/")
    shot(page, "library-360", full_page=False)
    # Signing out ends the session: pages send you to the sign-in form again.
    page.click("#signout")
    page.wait_for_url(re.compile(r"/signin$"))
    page.goto("/jobs")
    assert "/signin?next=%2Fjobs" in page.url
