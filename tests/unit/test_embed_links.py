"""The embed page's address: it carries the grant of the asset's signed playback URL (one signer, one grant),
plays for anyone holding it until it expires, and is refused when changed, expired or meant for another asset.
Both signers: the local one and the CloudFront one (route tokens rooted at the distribution's domain)."""

from __future__ import annotations

import logging
import uuid
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.signing_fixtures import Clock, private_pem, rsa_key
from vidpipe.errors import ForbiddenError
from vidpipe.playback.signing import CloudFrontSigner, LocalSigner
from vidpipe.server import RedactPlaybackTokens
from vidpipe.web import playback_links

ASSET = uuid.UUID("0b7a3c9e-2f51-4d8e-9a61-3f2c1d0e5b47")
OTHER = uuid.UUID("9d3f1a2b-7c4e-4f5a-8b6c-1e2d3c4b5a69")
NOW = 1_800_000_000.0


def _params(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def test_local_embed_link_carries_the_playback_grant_and_plays_it():
    clock = Clock(NOW)
    signer = LocalSigner(b"k" * 32, base_url="https://v.example", ttl_seconds=3600, clock=clock)
    link = playback_links.embed_url(ASSET, signer, "https://v.example/")
    parts = urlsplit(link)
    assert parts.path == f"/embed/{ASSET}" and list(_params(link)) == ["play"]
    assert "vp_" not in link and "session" not in link  # no API key, no session
    source = playback_links.embedded_playback_url(ASSET, signer, _params(link))
    assert source == playback_links.playback_url(ASSET, signer)  # exactly the copyable playback URL
    # The snippet holds the same link (HTML-escaped inside the attribute).
    snippet = playback_links.embed_snippet(ASSET, signer, "https://v.example", 'A "quoted" <title>')
    assert f'src="{link}"' in snippet and 'title="A &quot;quoted&quot; &lt;title>"' in snippet
    # A longer life chosen on the asset page: the same grant for the playback URL and the embed page.
    week = playback_links.embed_url(ASSET, signer, None, 7 * 24 * 3600)
    assert int(_params(week)["play"].split(".")[0]) == signer.expiry(7 * 24 * 3600) > NOW + 7 * 24 * 3600 - 1
    assert playback_links.embedded_playback_url(ASSET, signer, _params(week)) == \
        playback_links.playback_url(ASSET, signer, 7 * 24 * 3600)
    # Past the grant's expiry the page refuses, with a reason a viewer understands.
    clock.now += 3600 + 601
    with pytest.raises(ForbiddenError) as err:
        playback_links.embedded_playback_url(ASSET, signer, _params(link))
    assert err.value.code == "url_expired" and "expired" in err.value.message


@pytest.mark.parametrize("change", [
    lambda p: {},  # no grant at all: a bare /embed/{id} is not enough
    lambda p: {"play": p["play"][:-1] + ("A" if p["play"][-1] != "A" else "B")},
    lambda p: {"play": str(int(p["play"].split(".")[0]) + 86400) + p["play"][p["play"].index("."):]},
    lambda p: {"play": "vp_" + "x" * 40},  # an API key is not a grant
])
def test_local_embed_link_changed_is_refused(change):
    signer = LocalSigner(b"k" * 32, clock=Clock(NOW))
    params = _params(playback_links.embed_url(ASSET, signer, None))
    with pytest.raises(ForbiddenError) as err:
        playback_links.embedded_playback_url(ASSET, signer, change(params))
    assert err.value.code == "invalid_signature" and err.value.http_status == 403


def test_local_embed_link_is_for_its_asset_and_its_server_only():
    signer = LocalSigner(b"k" * 32, clock=Clock(NOW))
    params = _params(playback_links.embed_url(ASSET, signer, None))
    with pytest.raises(ForbiddenError):
        playback_links.embedded_playback_url(OTHER, signer, params)
    with pytest.raises(ForbiddenError):
        playback_links.embedded_playback_url(ASSET, LocalSigner(b"o" * 32, clock=Clock(NOW)), params)
    # A grant of another prefix of the same asset (the poster's) does not open the player.
    poster_token = urlsplit(signer.sign(ASSET, "thumbs/")).path.split("/")[3]
    with pytest.raises(ForbiddenError):
        playback_links.embedded_playback_url(ASSET, signer, {"play": poster_token})


def _cloudfront(clock: Clock, private: rsa.RSAPrivateKey | None = None) -> CloudFrontSigner:
    pem = private_pem(private or rsa_key())
    return CloudFrontSigner("d111.cloudfront.net", "K2JCJMDEHXQW5F", pem, key_prefix="media", ttl_seconds=3600,
                            clock=clock)


def test_cloudfront_embed_link_carries_the_route_token_served_through_the_cdn():
    clock = Clock(NOW)
    signer = _cloudfront(clock)
    link = playback_links.embed_url(ASSET, signer, signer.base_url)
    params = _params(link)
    assert link.startswith(f"https://d111.cloudfront.net/embed/{ASSET}?") and list(params) == ["play"]
    source = playback_links.embedded_playback_url(ASSET, signer, params)
    assert source == playback_links.playback_url(ASSET, signer)
    assert source.startswith("https://d111.cloudfront.net/v1/play/") and source.endswith(f"/{ASSET}/hls/master.m3u8")
    for changed in ({"play": "A" + params["play"][1:]}, {}, {"play": params["play"][:-4]}):
        with pytest.raises(ForbiddenError) as err:
            playback_links.embedded_playback_url(ASSET, signer, changed)
        assert err.value.code == "invalid_signature"
    with pytest.raises(ForbiddenError):  # signed for another asset
        playback_links.embedded_playback_url(OTHER, signer, params)
    with pytest.raises(ForbiddenError):  # another deployment's key
        playback_links.embedded_playback_url(ASSET, _cloudfront(clock), params)
    clock.now += 3600 + 601
    with pytest.raises(ForbiddenError) as err:
        playback_links.embedded_playback_url(ASSET, signer, params)
    assert err.value.code == "url_expired"


def test_access_log_lines_do_not_carry_embed_grants():
    signer = LocalSigner(b"k" * 32, clock=Clock(NOW))
    link = playback_links.embed_url(ASSET, signer, None)
    token = _params(link)["play"]
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
                               ("127.0.0.1:5000", "GET", link, "1.1", 200), None)
    assert RedactPlaybackTokens().filter(record)
    line = record.getMessage()
    assert token not in line and f"/embed/{ASSET}?-" in line


def test_pages_let_the_player_reach_the_cdn_that_serves_signed_urls():
    from vidpipe.web.pages import EMBED_HEADERS, SECURITY_HEADERS, with_playback_origin

    def directive(policy: str, name: str) -> list[str]:
        found = [d.strip().split() for d in policy.split(";") if d.strip().startswith(name + " ")]
        assert len(found) == 1, policy
        return found[0][1:]

    cdn = _cloudfront(Clock(NOW))
    for policy in (SECURITY_HEADERS["Content-Security-Policy"], EMBED_HEADERS["Content-Security-Policy"]):
        widened = with_playback_origin(policy, cdn)
        for name in ("img-src", "media-src", "connect-src"):  # posters, <video>, hls.js's requests
            assert "https://d111.cloudfront.net" in directive(widened, name), (name, widened)
        for name in ("default-src", "script-src", "frame-ancestors"):  # nothing else is widened
            assert directive(widened, name) == directive(policy, name), name
        # Same-origin signed URLs (no public base URL) leave the policy as it is.
        assert with_playback_origin(policy, LocalSigner(b"k" * 32)) == policy
