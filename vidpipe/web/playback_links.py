"""The addresses the console hands out for playing an asset outside it: a copyable playback URL and the embed
page. The one place that decides them.

The playback URL is the signer's expiring URL of the master playlist (vidpipe.playback.signing): any HLS player
plays it without a key or a cookie, and relative variant/segment URIs inherit the grant. The embed page itself
still needs a signed-in browser; the player inside it plays the signed URL. No API key is ever put in a URL."""

from __future__ import annotations

import uuid

from vidpipe.playback.signing import PlaybackSigner, url_for


def _base(base_url: str | None) -> str:
    return (base_url or "").rstrip("/")


def playback_url(asset_id: uuid.UUID, signer: PlaybackSigner) -> str:
    """The signed, expiring HLS master playlist address of the asset (for any HLS player)."""
    return url_for(signer.sign(asset_id, "hls/"), "master.m3u8")


def embed_url(asset_id: uuid.UUID, base_url: str | None) -> str:
    """The player-only page of the asset (for an iframe)."""
    return f"{_base(base_url)}/embed/{asset_id}"


def embed_snippet(asset_id: uuid.UUID, base_url: str | None, title: str) -> str:
    safe_title = title.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")
    return (f'<iframe src="{embed_url(asset_id, base_url)}" title="{safe_title}" width="640" height="360" '
            'allow="fullscreen; picture-in-picture" style="border:0"></iframe>')
