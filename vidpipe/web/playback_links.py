"""The addresses the console hands out for playing an asset outside it: a copyable playback URL and the embed
page. The one place that decides them.

Both carry one grant from the playback signer (vidpipe.playback.signing), never an API key or a session:

- the playback URL is the signer's expiring URL of the master playlist; any HLS player plays it, and relative
  variant/segment URIs inherit the grant;
- the embed page's address is `/embed/{asset_id}?{grant}`, where the grant is the part of that same signed URL
  that carries the signature (the local signer's token as `play=`, or CloudFront's `Policy`, `Signature` and
  `Key-Pair-Id`). The page checks it with the signer, rebuilds the playlist URL from it and plays that, so
  anyone holding the link can watch (an iframe on another site has no session with us) until the grant expires,
  and the link grants nothing but the asset's HLS files."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from urllib.parse import urlencode

from vidpipe.errors import ForbiddenError
from vidpipe.playback.signing import PLAY_ROUTE, CloudFrontSigner, LocalSigner, PlaybackSigner, url_for

HLS_PREFIX = "hls/"
MASTER = "master.m3u8"
EMBED_ROUTE = "/embed"
_CLOUDFRONT_PARAMS = ("Policy", "Signature", "Key-Pair-Id")


def _base(base_url: str | None) -> str:
    return (base_url or "").rstrip("/")


def playback_url(asset_id: uuid.UUID, signer: PlaybackSigner, ttl_seconds: int | None = None) -> str:
    """The signed, expiring HLS master playlist address of the asset (for any HLS player)."""
    return url_for(signer.sign(asset_id, HLS_PREFIX, ttl_seconds), MASTER)


def embed_url(asset_id: uuid.UUID, signer: PlaybackSigner, base_url: str | None,
              ttl_seconds: int | None = None) -> str:
    """The player-only page of the asset (for an iframe), carrying the grant of its playback URL."""
    signed = signer.sign(asset_id, HLS_PREFIX, ttl_seconds)
    path, _, query = signed.partition("?")
    if not query:  # the local signer: the token is the path segment after the play route
        token = path.split(f"{PLAY_ROUTE}/", 1)[1].split("/", 1)[0]
        query = urlencode({"play": token})
    return f"{_base(base_url)}{EMBED_ROUTE}/{asset_id}?{query}"


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
    try:
        if isinstance(signer, LocalSigner):
            token = params.get("play") or ""
            signer.verify(token, key)
            return f"{signer.base_url}{PLAY_ROUTE}/{token}/{key}"
        if isinstance(signer, CloudFrontSigner):
            grant = {name: params.get(name) or "" for name in _CLOUDFRONT_PARAMS}
            signer.verify(grant, key)
            return f"{signer.base_url}/{signer.key_prefix}{key}?{urlencode(grant)}"
    except ForbiddenError as exc:
        if exc.code == "url_expired":
            raise ForbiddenError("This video link has expired. Ask whoever shared it for a new one.",
                                 code="url_expired") from None
        raise ForbiddenError("This video link is not valid: it may be incomplete or changed. Copy the whole "
                             "link again.", code="invalid_signature") from None
    raise ForbiddenError("Embedding is not available with this server's playback signer.", code="invalid_signature")
