"""The console as a new user meets it, in Debian's Chromium against a real `vidpipe up`: the library follows
processing live, an upload resumes after a reload, a duplicate says so, /docs and /redoc work offline, previews
show the frame at the time asked for, audio-only and failed assets get pages that fit them, and the jobs page
says what its counts mean. One `vidpipe up` serves the module; tests run in file order."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from tests.acceptance import test_console as base
from tests.acceptance.conftest import wait_for
from tests.acceptance.test_console import READY_TIMEOUT, Console, shot, upload, upload_row, wait_row
from vidpipe.ffmpeg import samples
from vidpipe.ffmpeg.process import run_ffmpeg

pytest.importorskip("playwright.sync_api")
pytestmark = base.pytestmark
# The same fixtures as the console tests (a module-scoped `vidpipe up` and browser, a signed-in page).
console, browser, page = base.console, base.browser, base.page


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("media")
    return {
        # Hard cuts every 2 s between synthetic sources: a frame from the wrong second looks different.
        "cuts.mp4": samples.make_video(d / "cuts.mp4", width=320, height=180, seconds=16, fps=15, scene_seconds=2),
        "tone.mp3": samples.make_audio(d / "tone.mp3", seconds=4),
        "subs.mp4": subtitled_clip(d),
        "broken.mp4": samples.make_random_bytes(d / "broken.mp4", size=48 * 1024, seed=11),
        # Larger than one 8 MiB chunk, so a reload can land between two chunks.
        "big.bin.mp4": samples.make_random_bytes(d / "big.bin.mp4", size=9 * 1024 * 1024 + 4321, seed=3),
    }


def subtitled_clip(d: Path) -> Path:
    """A 4 s clip with a French text subtitle track (becomes a WebVTT HLS rendition of kind "subtitles")."""
    srt = d / "fr.srt"
    srt.write_text("1\n00:00:00,500 --> 00:00:03,500\nBonjour tout le monde\n")
    video = samples.make_video(d / "plain.mp4", width=320, height=180, seconds=4, fps=15, scene_seconds=2)
    out = d / "subs.mp4"
    run_ffmpeg(["-i", str(video), "-i", str(srt), "-map", "0", "-map", "1", "-c:v", "copy", "-c:a", "copy",
                "-c:s", "mov_text", "-metadata:s:s:0", "language=fra", str(out)])
    return out


def api_upload(console: Console, path: Path, profile: str = "preview") -> dict[str, Any]:
    """Upload through the resumable API as a script would; returns the finishing answer."""
    with console.api() as api:
        created = api.post("/v1/uploads", json={"filename": path.name, "size": path.stat().st_size,
                                                "profile": profile})
        assert created.status_code == 201, created.text
        r = api.patch(f"/v1/uploads/{created.json()['id']}", content=path.read_bytes(),
                      headers={"Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"})
        assert r.status_code == 200, r.text
        return r.json()


def wait_asset(console: Console, asset_id: str, statuses: tuple[str, ...] = ("ready", "failed")) -> dict[str, Any]:
    with console.api() as api:
        wait_for(lambda: api.get(f"/v1/assets/{asset_id}").json()["status"] in statuses, timeout=READY_TIMEOUT,
                 what=f"asset {asset_id} to reach {statuses}")
        return api.get(f"/v1/assets/{asset_id}").json()


@pytest.fixture(scope="module")
def processed(console: Console, media: dict[str, Path]) -> dict[str, dict[str, Any]]:
    """cuts.mp4, tone.mp3 and broken.mp4 uploaded and processed (ready, ready, failed)."""
    names = ("cuts.mp4", "tone.mp3", "broken.mp4", "subs.mp4")
    ids = {name: api_upload(console, media[name])["asset"]["id"] for name in names}
    return {name: wait_asset(console, asset_id) for name, asset_id in ids.items()}


# --- /docs and /redoc offline ------------------------------------------------------------------------------------
def test_docs_and_redoc_work_offline_from_vendored_files(console: Console, browser: Any) -> None:
    context = browser.new_context(base_url=console.base)
    elsewhere: list[str] = []

    def only_this_origin(route: Any) -> None:
        if route.request.url.startswith(console.base):
            route.continue_()
        else:  # no network beyond the server: what a CDN would serve never arrives
            elsewhere.append((route.request.resource_type, route.request.url))
            route.abort("internetdisconnected")

    context.route("**/*", only_this_origin)
    p = context.new_page()
    assert p.goto("/docs").status == 200
    p.locator(".swagger-ui .opblock").first.wait_for(timeout=20_000)
    assert p.locator(".swagger-ui .opblock").count() > 10
    assert p.locator(".swagger-ui .title").first.inner_text().startswith("vidpipe")
    shot(p, "docs", full_page=False)
    assert p.goto("/redoc").status == 200
    p.locator("redoc h1, [role=main] h1, .api-content h1").first.wait_for(timeout=20_000)
    assert "vidpipe" in p.locator("h1").first.inner_text()
    assert p.get_by_text("/v1/assets/{asset_id}").count() > 0 or p.locator("[data-section-id]").count() > 10
    # Nothing the pages need comes from elsewhere; ReDoc's attribution logo is an image that removes itself
    # when it cannot load.
    assert [u for kind, u in elsewhere if kind != "image"] == [], elsewhere
    context.close()


# --- the library follows processing live --------------------------------------------------------------------------
def test_library_cards_follow_processing_without_a_reload(console: Console, processed: dict[str, Any],
                                                          page: Any) -> None:
    asset_id = processed["cuts.mp4"]["id"]
    # Put the asset back to "processing" (as a reprocess would), open the library, then let it finish: the card
    # must turn "ready" in the same document, from the live stream.
    console.sql("UPDATE assets SET status = 'processing' WHERE id = CAST(:a AS uuid)", a=asset_id)
    page.goto("/")
    card = page.locator(f".asset-card[data-asset-id='{asset_id}']")
    assert card.locator(".badge").inner_text() == "processing"
    page.evaluate("() => { window.__doc = performance.timeOrigin; }")
    page.wait_for_timeout(500)  # the stream is open
    console.sql("UPDATE assets SET status = 'ready' WHERE id = CAST(:a AS uuid)", a=asset_id)
    page.wait_for_function(f"() => document.querySelector(\".asset-card[data-asset-id='{asset_id}'] .badge\")"
                           ".textContent === 'ready'", timeout=10_000)
    assert page.evaluate("() => window.__doc === performance.timeOrigin")
    # A failure arrives with its reason.
    broken = processed["broken.mp4"]["id"]
    console.sql("UPDATE assets SET status = 'processing' WHERE id = CAST(:a AS uuid)", a=broken)
    page.reload()
    page.wait_for_timeout(500)
    console.sql("UPDATE assets SET status = 'failed' WHERE id = CAST(:a AS uuid)", a=broken)
    bad = page.locator(f".asset-card[data-asset-id='{broken}']")
    page.wait_for_function(f"() => document.querySelector(\".asset-card[data-asset-id='{broken}'] .badge\")"
                           ".textContent === 'failed'", timeout=10_000)
    assert len(bad.locator(".why").inner_text()) > 5


# --- duplicates -------------------------------------------------------------------------------------------------
def test_a_duplicate_upload_says_it_is_already_in_the_library(console: Console, processed: dict[str, Any],
                                                              media: dict[str, Path], page: Any) -> None:
    upload(page, [media["cuts.mp4"]], "preview")
    status = wait_row(page, "cuts.mp4", "ready|failed", timeout=60)
    row = upload_row(page, "cuts.mp4")
    assert status == "ready"
    assert row.get_attribute("data-duplicate") == "true"
    text = row.locator(".state").inner_text()
    assert "Already in the library" in text and "nothing new was stored" in text, text
    link = row.locator("a")
    assert link.inner_text() == "Open the existing asset"
    assert link.get_attribute("href") == f"/assets/{processed['cuts.mp4']['id']}"
    shot(page, "upload-duplicate", full_page=False)


# --- resumable across a reload, with %, speed and time left ------------------------------------------------------
def test_upload_resumes_after_a_reload_with_the_same_file(console: Console, media: dict[str, Path],
                                                          page: Any) -> None:
    big = media["big.bin.mp4"]
    offsets: list[int] = []
    state = {"cut": True}

    def first_chunk_then_offline(route: Any) -> None:
        request = route.request
        if request.method != "PATCH":
            route.continue_()
            return
        offsets.append(int(request.headers["upload-offset"]))
        if len(offsets) == 1 or not state["cut"]:
            route.continue_()
        else:
            route.abort("internetdisconnected")

    page.route("**/v1/uploads/*", first_chunk_then_offline)
    upload(page, [big], "preview")
    page.wait_for_function("() => { const r = document.querySelector('#uploads li .state');"
                           " return r && r.textContent.startsWith('Connection lost'); }", timeout=30_000)
    # Leaving now would lose the page's progress: the browser asks first.
    assert page.evaluate("() => { const e = new Event('beforeunload', {cancelable: true});"
                         " window.dispatchEvent(e); return e.defaultPrevented; }")
    state["cut"] = False
    page.once("dialog", lambda d: d.accept())
    page.reload()
    offsets.clear()
    # The same file chosen again: it continues from the server's offset (one chunk in), not from 0 B.
    samples_text: list[str] = []
    upload(page, [big], "preview")
    page.evaluate("() => { const s = () => document.querySelector('#uploads li .state');"
                  " window.__texts = []; const seen = () => { const e = s(); const bar = document.querySelector("
                  "'#uploads li progress'); if (e && bar) window.__texts.push([e.textContent, bar.value / bar.max]); };"
                  " new MutationObserver(seen).observe(document.getElementById('uploads'),"
                  " {subtree: true, childList: true, characterData: true}); }")
    wait_row(page, big.name, "ready|failed|rejected", timeout=90)
    assert offsets and offsets[0] == 8 * 1024 * 1024, offsets
    assert upload_row(page, big.name).get_attribute("data-resumed-from") == str(8 * 1024 * 1024)
    samples_text = page.evaluate("() => window.__texts")
    uploading = [(t, f) for t, f in samples_text if t.startswith("Uploading")]
    for text, fraction in uploading:  # the words never lag the bar
        pct = int(re.search(r"(\d+)%", text).group(1))
        assert abs(pct - fraction * 100) <= 1.01, (text, fraction)
    assert page.evaluate("() => localStorage.length") == 0  # finished: nothing left to resume
    page.unroute("**/v1/uploads/*")
    # Speed and time left, from the page's own formatter.
    text = page.evaluate("async () => (await import('/static/upload.js')).progressText(3 * 1048576, 8 * 1048576,"
                         " 1048576)")
    assert text == "37% · 3.0 MB of 8.0 MB · 1.0 MB/s · about 5 s left", text


# --- audio-only and failed assets -------------------------------------------------------------------------------
def test_audio_only_asset_page_has_an_audio_player(console: Console, processed: dict[str, Any], page: Any) -> None:
    tone = processed["tone.mp3"]
    assert tone["status"] == "ready"
    page.goto(f"/assets/{tone['id']}")
    page.wait_for_function("() => document.body.dataset.kind === 'audio'")
    page.wait_for_function("() => document.getElementById('video').readyState >= 1", timeout=30_000)
    assert page.locator("#quality").is_hidden()
    assert "?p" not in page.inner_text("#player-box")
    assert "und" not in page.locator("#renditions").inner_text().split()
    assert page.locator("#waveform").is_visible()
    assert page.locator("#video").get_attribute("poster") is None
    box = page.locator("#video").bounding_box()
    assert box["height"] < 120, box  # a control bar, not an empty black 16:9 box
    assert page.locator("#scenes-box").is_hidden()
    shot(page, "asset-audio", full_page=False)


def test_failed_asset_page_says_why_and_shows_no_player(console: Console, processed: dict[str, Any],
                                                        page: Any) -> None:
    broken = processed["broken.mp4"]
    assert broken["status"] == "failed"
    page.goto(f"/assets/{broken['id']}")
    page.wait_for_function("() => document.body.dataset.kind === 'failed'")
    assert page.locator("#video").is_hidden()
    assert page.locator("#failed-box").is_visible()
    assert broken["error"]["message"] in page.inner_text("#failed-box")
    assert "No scenes detected" not in page.inner_text("main")
    stages = page.locator("#stages li").evaluate_all("els => els.map(e => e.dataset.status)")
    assert "pending" not in stages and "skipped" in stages, stages
    shot(page, "asset-failed", full_page=False)


def test_jobs_page_says_failed_jobs_are_not_retried(console: Console, processed: dict[str, Any], page: Any) -> None:
    page.goto("/jobs")
    page.wait_for_function("() => document.getElementById('dead-count').textContent.length > 0")
    text = page.inner_text("#dead-count")
    assert "waiting for a retry" not in text
    assert re.search(r"failed for good, not retried \(bad input\): [1-9]", text), text
    page.click("#dead-count a")
    page.wait_for_url(re.compile(r"status=failed"))


# --- the asset page stays short ---------------------------------------------------------------------------------
def test_asset_page_folds_artifacts_and_events(console: Console, processed: dict[str, Any], page: Any) -> None:
    page.goto(f"/assets/{processed['cuts.mp4']['id']}")
    page.wait_for_function("() => Number(document.getElementById('artifacts-count').textContent) > 3")
    assert page.evaluate("() => document.getElementById('artifacts-box').open") is False
    assert page.evaluate("() => document.getElementById('events-box').open") is False
    height = page.evaluate("() => document.scrollingElement.scrollHeight")
    assert height < 2400, height
    page.set_viewport_size({"width": 360, "height": 740})
    page.goto("/")
    # The filters fold away on a phone: the first screen shows assets, not a form.
    first_card = page.locator(".asset-card").first.bounding_box()
    assert first_card["y"] < 740, first_card


def frame_at(path: Path, t: float, width: int = 160) -> np.ndarray:
    out = path.with_name(f"frame-{t:.2f}.png")
    run_ffmpeg(["-ss", f"{t}", "-i", str(path), "-frames:v", "1", "-vf", f"scale={width}:-2", str(out)])
    return np.asarray(Image.open(out).convert("RGB"), dtype=np.float32)


def image_of(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.float32)


def differs(a: np.ndarray, b: np.ndarray) -> float:
    h, w = min(a.shape[0], b.shape[0]), min(a.shape[1], b.shape[1])
    return float(np.abs(a[:h, :w] - b[:h, :w]).mean())


# --- a picture of any moment ----------------------------------------------------------------------------------
def test_thumbnail_endpoint_gives_the_frame_at_the_time_and_caches_it(console: Console, processed: dict[str, Any],
                                                                      media: dict[str, Path]) -> None:
    cuts = processed["cuts.mp4"]
    with console.api() as api:
        for t in (3.0, 13.0):
            r = api.get(f"/v1/assets/{cuts['id']}/thumbnail.jpg", params={"time": t, "width": 160})
            assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg", r.text
            got = image_of(r.content)
            assert got.shape[1] == 160
            same, before_cut = differs(got, frame_at(media["cuts.mp4"], t)), differs(got, frame_at(media["cuts.mp4"],
                                                                                                  t - 1.5))
            assert same < 10 and before_cut > 3 * same, (t, same, before_cut)
            again = api.get(f"/v1/assets/{cuts['id']}/thumbnail.jpg", params={"time": t, "width": 160},
                            headers={"If-None-Match": r.headers["etag"]})
            assert again.status_code == 304
        assert api.get(f"/v1/assets/{processed['tone.mp3']['id']}/thumbnail.jpg").status_code == 404
        # Sprite tiles follow the length: a 16 s video gets one every 2 s (not one per 10 s).
        vtt = api.get(cuts["sprite_vtt_url"]).text
    starts = [float(m.group(1)) * 60 + float(m.group(2)) for m in re.finditer(r"\d\d:(\d\d):(\d\d\.\d+) -->", vtt)]
    assert len(starts) >= 8 and max(b - a for a, b in zip(starts, starts[1:], strict=False)) <= 2.0, starts


def test_scrub_preview_shows_the_frame_under_the_pointer(console: Console, processed: dict[str, Any],
                                                         media: dict[str, Path], page: Any) -> None:
    cuts = processed["cuts.mp4"]
    page.goto(f"/assets/{cuts['id']}")
    page.wait_for_function("() => Number(document.getElementById('scrub').max) > 10", timeout=30_000)
    duration = float(page.evaluate("() => Number(document.getElementById('scrub').max)"))
    box = page.locator("#scrub").bounding_box()
    page.mouse.move(box["x"] + 2, box["y"] + box["height"] / 2)
    page.mouse.move(box["x"] + box["width"] * (13.0 / duration), box["y"] + box["height"] / 2)
    exact = page.locator("#scrub-preview img.exact:not([hidden])")
    exact.wait_for(timeout=15_000)
    t = float(exact.get_attribute("data-time"))
    assert abs(t - 13.0) < 0.6, t
    body = page.request.get(exact.get_attribute("src")).body()
    shown = image_of(body)
    same = differs(shown, frame_at(media["cuts.mp4"], t, width=shown.shape[1]))
    old_tile = differs(shown, frame_at(media["cuts.mp4"], 10.0, width=shown.shape[1]))  # one tile per 10 s
    assert same < 10 and old_tile > 3 * same, (same, old_tile)
    # Scenes show their own frames from the same endpoint.
    assert "/thumbnail.jpg?time=" in page.locator("#scenes img").first.get_attribute("src")


# --- search: a floor, titles and frames, operator hints on the status page -------------------------------------
def test_search_hits_are_relevant_labelled_and_show_their_frame(console: Console, processed: dict[str, Any],
                                                                page: Any) -> None:
    cuts = processed["cuts.mp4"]
    with console.api() as api:
        api.patch(f"/v1/assets/{cuts['id']}", json={"title": "Harbour cranes at dawn"}).raise_for_status()
        api.post(f"/v1/assets/{cuts['id']}/reprocess", json={"stage": "analyze"}).raise_for_status()  # re-embeds it
        wait_for(lambda: any(h["asset_id"] == cuts["id"] for h in api.get(
            "/v1/search", params={"q": "harbour cranes", "modality": "speech"}).json()["items"]), timeout=120,
            what="the new title to be searchable")
    page.goto("/search?q=harbour+cranes+at+dawn&modality=all")
    hit = page.locator(f"#hits a[href^='/assets/{cuts['id']}?t=']").first
    hit.wait_for(timeout=30_000)
    assert "title" in hit.locator(".modality").inner_text() and "speech" not in hit.locator(".modality").inner_text()
    assert "Harbour cranes at dawn" in hit.inner_text()
    assert "/thumbnail.jpg?time=" in hit.locator("img").get_attribute("src")
    assert "VIDPIPE_EMBEDDERS" not in page.inner_text("main") and "Not searched" not in page.inner_text("main")
    shot(page, "search-title")
    # Nothing in the library is about this: no list of everything down to a score of 0.06.
    page.goto("/search?q=quarterly+earnings+of+a+regional+bank&modality=all")
    page.wait_for_function("() => document.getElementById('search-msg').textContent.length > 12")
    assert page.locator("#hits li").count() == 0, page.inner_text("#hits")
    assert "Nothing relevant" in page.inner_text("#search-msg")
    # The operator's hint is on the status page instead.
    page.goto("/jobs")
    page.locator("#search-status li[data-modality=speech]").wait_for(timeout=10_000)
    assert "searchable" in page.inner_text("#search-status li[data-modality=speech]")
    similar = f"/assets/{cuts['id']}"
    page.goto(similar)
    page.wait_for_function("() => document.querySelectorAll('#similar li').length > 0", timeout=20_000)
    assert not re.search(r"\b[0-9a-f]{8}\b", page.inner_text("#similar")), page.inner_text("#similar")


# --- what people expect of a video platform --------------------------------------------------------------------
def test_speed_captions_download_and_share(console: Console, processed: dict[str, Any], page: Any) -> None:
    subs = processed["subs.mp4"]
    assert subs["status"] == "ready", subs.get("error")
    assert any(r["kind"] == "subtitles" for r in subs["renditions"]), subs["renditions"]
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.goto(f"/assets/{subs['id']}")
    page.wait_for_function("() => document.getElementById('video').readyState >= 1", timeout=30_000)
    # Playback speed.
    page.select_option("#speed", "1.5")
    assert page.evaluate("() => document.getElementById('video').playbackRate") == 1.5
    # The captions menu lists the subtitle rendition; choosing it shows its cues.
    page.wait_for_function("() => document.querySelectorAll('#captions option').length >= 2", timeout=20_000)
    options = page.locator("#captions option").all_inner_texts()
    assert options[0] == "Off" and any("fr" in o.lower() for o in options[1:]), options
    page.select_option("#captions", "hls:0")
    page.evaluate("() => { const v = document.getElementById('video'); v.muted = true; v.currentTime = 1;"
                  " return v.play(); }")
    page.wait_for_function("() => [...document.getElementById('video').textTracks].some(t => t.mode === 'showing'"
                           " && t.cues && [...t.cues].some(c => c.text.includes('Bonjour')))", timeout=20_000)
    # MP4 download of a rendition: a real MP4 of the right length.
    link = page.locator("#renditions a.download").first
    href = link.get_attribute("href")
    r = page.request.get(href)
    assert r.status == 200 and r.headers["content-type"] == "video/mp4"
    assert "attachment" in r.headers["content-disposition"]
    body = r.body()
    assert body[4:8] == b"ftyp" and len(body) > 10_000
    ranged = page.request.get(href, headers={"Range": "bytes=0-99"})
    assert ranged.status == 206 and len(ranged.body()) == 100
    # A copyable playback URL and an embed snippet, with no API key in them.
    url = page.input_value("#share-url")
    assert url.startswith(console.base) and url.endswith("/hls/master.m3u8") and "api_key" not in url
    page.click("button[data-copy=share-url]")
    page.wait_for_function("() => document.getElementById('share-msg').textContent === 'Copied.'")
    assert page.evaluate("() => navigator.clipboard.readText()") == url
    snippet = page.input_value("#share-embed")
    embed = re.search(r'src="([^"]+)"', snippet).group(1)
    assert snippet.startswith("<iframe") and embed.startswith(console.base + "/embed/") and "api_key" not in snippet
    # The embed page is just the player, and may be framed by another site.
    response = page.goto(embed)
    assert "frame-ancestors *" in response.headers["content-security-policy"]
    assert "x-frame-options" not in response.headers
    page.wait_for_function("() => document.getElementById('video').readyState >= 1", timeout=30_000)


def test_bulk_tag_reprocess_and_delete_from_the_library(console: Console, processed: dict[str, Any],
                                                       page: Any) -> None:
    cuts, subs, tone = (processed[n]["id"] for n in ("cuts.mp4", "subs.mp4", "tone.mp3"))
    page.goto("/")
    pick = lambda asset_id: page.check(f".asset-card[data-asset-id='{asset_id}'] input.pick")  # noqa: E731
    pick(cuts)
    pick(subs)
    assert page.inner_text("#bulk-count") == "2 selected"
    page.fill("#bulk-tag", "Batch")
    page.click("#bulk button[data-action=tag]")
    page.wait_for_function("() => document.getElementById('bulk-msg').textContent.startsWith('2 of 2 tagged')")
    with console.api() as api:
        assert all("batch" in api.get(f"/v1/assets/{a}").json()["tags"] for a in (cuts, subs))
    page.goto("/")
    pick(tone)
    page.evaluate(f"() => {{ window.__seen = []; const b = document.querySelector(\".asset-card[data-asset-id='{tone}']"
                  " .badge\"); new MutationObserver(() => window.__seen.push(b.textContent))"
                  ".observe(b, {childList: true, characterData: true, subtree: true}); }")
    page.click("#bulk button[data-action=reprocess]")
    page.wait_for_function("() => document.getElementById('bulk-msg').textContent.startsWith('1 of 1 queued')")
    # The reprocessed card follows its processing live, back to ready.
    page.wait_for_function("() => window.__seen.length >= 2 && window.__seen[window.__seen.length - 1] === 'ready'",
                           timeout=READY_TIMEOUT * 1000)
    assert any(s != "ready" for s in page.evaluate("() => window.__seen")), page.evaluate("() => window.__seen")
    shot(page, "library-bulk", full_page=False)
    broken = processed["broken.mp4"]["id"]
    pick(broken)
    page.uncheck(f".asset-card[data-asset-id='{tone}'] input.pick")
    page.once("dialog", lambda d: d.accept())
    page.click("#bulk button[data-action=delete]")
    page.wait_for_function("() => document.getElementById('bulk-msg').textContent.startsWith('1 of 1 deleted')")
    assert page.locator(f".asset-card[data-asset-id='{broken}']").count() == 0
    with console.api() as api:
        assert api.get(f"/v1/assets/{broken}").status_code == 404
