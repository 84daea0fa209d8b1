"""The addresses the console hands out for playing an asset outside it: a copyable playback URL and the embed
page. The one place that decides them.

Both carry one grant from the playback signer (vidpipe.playback.signing), never an API key or a session:

- the playback URL is the signer's expiring URL of the master playlist (`{base}/v1/play/{token}/{asset}/hls/
  master.m3u8`, `base` being this server or, in AWS, the CloudFront domain); any HLS player plays it, and
  relative variant/segment URIs inherit the grant;
- the embed page's address is `{base}/embed/{asset_id}?play={token}`: the same token. The page asks the signer
  to verify it, rebuilds the playlist URL from it and plays that, so anyone holding the link can watch (an
  iframe on another site has no session with us) until the grant expires, and the link grants nothing but the
  asset's HLS files."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from urllib.parse import urlencode

from vidpipe.errors import ForbiddenError
from vidpipe.playback.signing import PLAY_ROUTE, PlaybackSigner, url_for

HLS_PREFIX = "hls/"
MASTER = "master.m3u8"
EMBED_ROUTE = "/embed"


def _base(base_url: str | None) -> str:
    return (base_url or "").rstrip("/")


def playback_url(asset_id: uuid.UUID, signer: PlaybackSigner, ttl_seconds: int | None = None) -> str:
    """The signed, expiring HLS master playlist address of the asset (for any HLS player)."""
    return url_for(signer.sign(asset_id, HLS_PREFIX, ttl_seconds), MASTER)


def embed_url(asset_id: uuid.UUID, signer: PlaybackSigner, base_url: str | None,
              ttl_seconds: int | None = None) -> str:
    """The player-only page of the asset (for an iframe), carrying the token of its playback URL."""
    signed = signer.sign(asset_id, HLS_PREFIX, ttl_seconds)
    token = signed.split(f"{PLAY_ROUTE}/", 1)[1].split("/", 1)[0]
    return f"{_base(base_url)}{EMBED_ROUTE}/{asset_id}?{urlencode({'play': token})}"


def embed_snippet(asset_id: uuid.UUID, signer: PlaybackSigner, base_url: str | None, title: str,
                  ttl_seconds: int | None = None) -> str:
    safe_title = title.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")
    src = embed_url(asset_id, signer, base_url, ttl_seconds).replace("&", "&amp;")
    return (f'<iframe src="{src}" title="{safe_title}" width="640" height="360" '
            'allow="fullscreen; picture-in-picture" style="border:0"></iframe>')


def embedded_playback_url(asset_id: uuid.UUID, signer: PlaybackSigner, params: Mapping[str, str]) -> str:
    """The playlist URL an embed page's address grants, after the signer has checked the grant (unexpired, ours,
    this asset's HLS files); else ForbiddenError with a reason a viewer can act on."""
    key = f"{asset_id}/{HLS_PREFIX}{MASTER}"
    token = params.get("play") or ""
    try:
        signer.verify(token, key)
    except ForbiddenError as exc:
        if exc.code == "url_expired":
            raise ForbiddenError("This video link has expired. Ask whoever shared it for a new one.",
                                 code="url_expired") from None
        raise ForbiddenError("This video link is not valid: it may be incomplete or changed. Copy the whole "
                             "link again.", code="invalid_signature") from None
    return f"{signer.base_url}{PLAY_ROUTE}/{token}/{key}"
