"""The addresses the console hands out for playing an asset outside it: a copyable playback URL and the embed
page. The one place that decides them, so signed playback links plug in here.

MERGE NOTE: signed playback (branch `security`, vidpipe/playback/signing.py, PlaybackSigner) replaces the body
of `playback_url` with the signer's expiring URL (e.g. /v1/play/{token}/{asset}/hls/master.m3u8) and
`embed_url` with the embed page carrying that token; until then both need a signed-in browser (session cookie),
and no API key is ever put in a URL."""

from __future__ import annotations

import uuid


def _base(base_url: str | None) -> str:
    return (base_url or "").rstrip("/")


def playback_url(asset_id: uuid.UUID, base_url: str | None) -> str:
    """The HLS master playlist address of the asset (for any HLS player)."""
    return f"{_base(base_url)}/v1/media/{asset_id}/hls/master.m3u8"


def embed_url(asset_id: uuid.UUID, base_url: str | None) -> str:
    """The player-only page of the asset (for an iframe)."""
    return f"{_base(base_url)}/embed/{asset_id}"


def embed_snippet(asset_id: uuid.UUID, base_url: str | None, title: str) -> str:
    safe_title = title.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")
    return (f'<iframe src="{embed_url(asset_id, base_url)}" title="{safe_title}" width="640" height="360" '
            'allow="fullscreen; picture-in-picture" style="border:0"></iframe>')
