"""Rewriting the URIs inside the playlists (and thumbnail tracks) the API serves when media goes through a CDN.

A CloudFront signed URL carries its signature in the query string, and a relative URI inside a playlist does
not inherit a query string. So when the signer is CloudFront (vidpipe.playback.signing), players load the
*documents* (HLS playlists, the scrub-preview WebVTT) from the API's signed route, whose token is in the path,
and the API turns every URI that names a *file* (segment, init section, subtitle file, sprite sheet) into an
absolute, signed CloudFront URL. Files then come straight from CloudFront; only the small documents pass the API.

Both functions here are pure: stored text, the stored key it came from, and `media_url(key) -> url | None`
(None: leave the URI as it is, e.g. a key outside the grant) in; rewritten text out.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable

MediaUrl = Callable[[str], "str | None"]

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_SAFE_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)*$")  # what check_key accepts
# URI="..." attributes of tags (EXT-X-MEDIA, EXT-X-MAP, EXT-X-I-FRAME-STREAM-INF, EXT-X-KEY, EXT-X-PART, ...).
_URI_ATTRIBUTE = re.compile(r'(?<=[:,])URI="([^"]*)"')
# A thumbnail-track cue payload: `sprite-000.jpg#xywh=0,0,160,90` (the media fragment is what makes it one).
_THUMBNAIL_CUE = re.compile(r"^([^\s#?]+\.(?:jpe?g|png|webp))(#xywh=[0-9,]+)$", re.IGNORECASE)


def resolve(document_key: str, uri: str) -> str | None:
    """The stored key a relative `uri` inside the document at `document_key` names, the way a player resolves
    it against the document's URL; None for absolute URIs, queries, unsafe names and anything outside the
    document's asset (the first path segment)."""
    if not uri or _SCHEME.match(uri) or uri.startswith("/") or "?" in uri or "#" in uri:
        return None
    key = posixpath.normpath(posixpath.join(posixpath.dirname(document_key), uri))
    asset = document_key.split("/", 1)[0] + "/"
    return key if _SAFE_KEY.match(key) and key.startswith(asset) else None


def _eol(line: str) -> tuple[str, str]:
    body = line.rstrip("\r\n")
    return body, line[len(body):]


def rewrite_playlist(text: str, playlist_key: str, media_url: MediaUrl) -> str:
    """Every URI in an HLS playlist (URI lines and URI="..." attributes) that names a file becomes
    `media_url(resolved key)`. URIs naming playlists (`.m3u8`) stay as they are: they resolve against the
    playlist's own signed route URL and are rewritten in turn when the player loads them."""

    def replace(uri: str) -> str:
        key = resolve(playlist_key, uri)
        if key is None or key.lower().endswith(".m3u8"):
            return uri
        return media_url(key) or uri

    out = []
    for line in text.splitlines(keepends=True):
        body, eol = _eol(line)
        stripped = body.strip()
        if not stripped:
            out.append(line)
        elif stripped.startswith("#"):
            if stripped.startswith("#EXT"):
                body = _URI_ATTRIBUTE.sub(lambda m: f'URI="{replace(m.group(1))}"', body)
            out.append(body + eol)
        else:
            out.append(replace(stripped) + eol)
    return "".join(out)


def rewrite_thumbnail_track(text: str, track_key: str, media_url: MediaUrl) -> str:
    """A WebVTT scrub-preview track: each cue payload `sheet.jpg#xywh=...` becomes `media_url(key)#xywh=...`.
    Any other line (subtitle text included) is left alone: only an image name with a media fragment is a URI."""
    out = []
    for line in text.splitlines(keepends=True):
        body, eol = _eol(line)
        match = _THUMBNAIL_CUE.match(body.strip())
        key = resolve(track_key, match.group(1)) if match else None
        url = media_url(key) if key else None
        out.append(f"{url}{match.group(2)}{eol}" if url and match else line)
    return "".join(out)
