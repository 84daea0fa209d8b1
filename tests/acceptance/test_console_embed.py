"""The embed snippet works where it is meant to: in an iframe on another site, in a browser that has never signed
in. The link carries the grant of the asset's signed playback URL (no API key, no session), plays until it
expires, and a bare, changed or expired link gets a readable refusal inside the frame, not a sign-in form.

Its own `vidpipe up` (the same module fixtures as the console tests), Debian's Chromium."""

from __future__ import annotations

import html
import re
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from tests.acceptance import test_console as base
from tests.acceptance.test_console import Console, shot
from tests.acceptance.test_console_usability import api_upload, wait_asset
from vidpipe.ffmpeg import samples
from vidpipe.playback.signing import LocalSigner, local_signing_key
from vidpipe.settings import Settings

pytest.importorskip("playwright.sync_api")
pytestmark = base.pytestmark
console, browser, page = base.console, base.browser, base.page


@pytest.fixture(scope="module")
def ready(console: Console, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    clip = samples.make_video(tmp_path_factory.mktemp("embed") / "harbour.mp4", width=320, height=180, seconds=6,
                              fps=15, scene_seconds=2)
    asset = wait_asset(console, api_upload(console, Path(clip))["asset"]["id"])
    assert asset["status"] == "ready", asset.get("error")
    return asset


class Article(BaseHTTPRequestHandler):
    """Another site's article that embeds `?src=` in an iframe (the snippet as pasted into a CMS)."""

    def do_GET(self) -> None:  # noqa: N802 - the http.server interface
        src = html.escape(parse_qs(urlsplit(self.path).query).get("src", [""])[0])
        body = ("<!doctype html><title>News</title><h1>Harbour news</h1><p>Watch:</p>"
                f'<iframe id="player" src="{src}" width="640" height="360" style="border:0" allow="fullscreen">'
                "</iframe>").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def elsewhere() -> Iterator[str]:
    """Another site: 127.0.0.2 is another host than the console's 127.0.0.1 (another site for the browser, which
    holds no cookie for it), and a real loopback address, so Chromium's local-network-access checks (which refuse
    a public page framing a loopback one) see what they would see between two public sites."""
    server = ThreadingHTTPServer(("127.0.0.2", 0), Article)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.2:{server.server_address[1]}/article.html"
    server.shutdown()
    server.server_close()


def third_party_page(browser: Any, elsewhere: str, embed_src: str) -> tuple[Any, Any, list[dict[str, Any]]]:
    """A fresh browser (no cookies) on another site whose article embeds the snippet's iframe; every request the
    browser makes is recorded with its headers."""
    context = browser.new_context(viewport={"width": 900, "height": 640})
    requests: list[dict[str, Any]] = []
    context.on("request", lambda r: requests.append({"url": r.url, "headers": r.all_headers()}))
    p = context.new_page()
    p.goto(f"{elsewhere}?{urlencode({'src': embed_src})}")
    frame = p.frame_locator("#player")
    return context, frame, requests


def test_embed_snippet_plays_on_another_site_without_signing_in(console: Console, ready: dict[str, Any],
                                                                elsewhere: str, browser: Any, page: Any) -> None:
    # The signed-in team member copies the snippet from the asset page.
    page.goto(f"/assets/{ready['id']}")
    snippet = page.input_value("#share-embed")
    src = re.search(r'src="([^"]+)"', snippet).group(1).replace("&amp;", "&")
    assert urlsplit(src).path == f"/embed/{ready['id']}" and "play" in parse_qs(urlsplit(src).query)
    assert console.key not in snippet and "api_key" not in snippet
    assert "until" in page.inner_text("#share-expiry")
    default_expiry = int(parse_qs(urlsplit(src).query)["play"][0].split(".")[0])
    assert 5 * 3600 < default_expiry - time.time() <= 7 * 3600  # the server's default: 6 h
    # An embed meant to stay up on an article: the team picks a longer life and gets new links.
    page.select_option("#share-ttl", str(7 * 24 * 3600))
    page.click("#share-life button[type=submit]")
    page.wait_for_url(re.compile(r"share_ttl=604800"))
    snippet = page.input_value("#share-embed")
    src = re.search(r'src="([^"]+)"', snippet).group(1).replace("&amp;", "&")
    expiry = int(parse_qs(urlsplit(src).query)["play"][0].split(".")[0])
    assert 7 * 24 * 3600 - 60 < expiry - time.time() <= 7 * 24 * 3600 + 3600, expiry - time.time()
    shown = page.get_attribute("#share-expiry time", "datetime")
    assert abs(datetime.fromisoformat(shown).timestamp() - expiry) < 1, (shown, expiry)
    assert page.input_value("#share-url").split("/v1/play/")[1].split("/")[0] == \
        parse_qs(urlsplit(src).query)["play"][0]  # one grant: the playback URL and the embed share it
    # Someone else's browser, on someone else's site.
    context, frame, requests = third_party_page(browser, elsewhere, src)
    frame.locator("body").wait_for(timeout=20_000)
    assert frame.locator("#embed-error").count() == 0, frame.locator("#embed-error").inner_text()
    video = frame.locator("video")
    video.wait_for(timeout=20_000)
    video.evaluate("v => { v.muted = true; return v.play(); }")
    video.evaluate("v => new Promise((ok, fail) => { const t = setTimeout(() => fail(new Error('no playback: '"
                   " + v.readyState + ' ' + (v.error && v.error.message))), 30000);"
                   " const check = () => v.currentTime > 0.5 ? (clearTimeout(t), ok()) : setTimeout(check, 100);"
                   " check(); })")
    assert video.evaluate("v => v.readyState") >= 2
    shot(context.pages[0], "embed-elsewhere", full_page=False)
    ours = [r for r in requests if r["url"].startswith(console.base)]
    assert any("/v1/play/" in r["url"] and r["url"].endswith(".ts") for r in ours), ours  # segments arrived
    for r in ours:  # no key, no cookie, nothing unsigned, never the sign-in page
        assert console.key not in r["url"] and "x-api-key" not in r["headers"] and "cookie" not in r["headers"], r
        assert "/signin" not in r["url"] and "/v1/media/" not in r["url"], r["url"]
    embed_html = context.request.get(src)
    assert embed_html.status == 200 and console.key not in embed_html.text()
    assert "frame-ancestors *" in embed_html.headers["content-security-policy"]
    context.close()


def test_bare_changed_and_expired_embed_links_are_refused_inside_the_frame(console: Console, ready: dict[str, Any],
                                                                           elsewhere: str, browser: Any) -> None:
    asset_id = ready["id"]
    # Made with the server's own key, but an hour in the past: its grant has run out.
    key = local_signing_key(Settings(data_dir=console.data_dir, _env_file=None))
    old = LocalSigner(key, ttl_seconds=600, clock=lambda: time.time() - 3600)
    expired_token = urlsplit(old.sign(asset_id, "hls/")).path.split("/")[3]
    cases = {
        "bare": (f"{console.base}/embed/{asset_id}", "not valid"),
        "changed": (f"{console.base}/embed/{asset_id}?play={expired_token[:-2]}xx", "not valid"),
        "expired": (f"{console.base}/embed/{asset_id}?play={expired_token}", "expired"),
    }
    for name, (src, words) in cases.items():
        context, frame, _ = third_party_page(browser, elsewhere, src)
        frame.locator("#embed-error").wait_for(timeout=15_000)
        assert words in frame.locator("#embed-error").inner_text(), name
        assert frame.locator("video").count() == 0, name
        r = context.request.get(src, max_redirects=0)
        assert r.status == 403, (name, r.status)
        assert "frame-ancestors *" in r.headers["content-security-policy"]
        context.close()
    # The player's own files refuse the expired grant too (one grant, one expiry).
    with console.api() as api:
        r = api.get(f"/v1/play/{expired_token}/{asset_id}/hls/master.m3u8", headers={"X-API-Key": ""})
        assert r.status_code == 403 and r.json()["error"]["code"] == "url_expired"
