"""The signed route `/v1/play/{token}/{key}` when the media store is behind CloudFront (CloudFrontSigner).

Documents are served here with their URIs rewritten (vidpipe.playback.rewrite): HLS playlists, and the
scrub-preview WebVTT, whose file URIs become CloudFront signed URLs under the same grant and expiry (playlist
URIs stay relative, so they come back here under the same token). Any other file (a poster, the original, a
segment asked for directly) is a 302 to its CloudFront signed URL: the bytes never pass the API.
"""

from __future__ import annotations

import gzip
import hashlib

from fastapi import Request, Response
from fastapi.responses import RedirectResponse

from vidpipe.cache.http import REVALIDATE_CACHE_CONTROL, etag_matches
from vidpipe.errors import ForbiddenError
from vidpipe.playback.rewrite import rewrite_playlist, rewrite_thumbnail_track
from vidpipe.playback.signing import CloudFrontSigner, Grant
from vidpipe.runtime import Runtime

# Bigger than any playlist or thumbnail track we write (a 3 h film at 2 s segments: ~200 KB); a larger
# "document" is someone's big text file, sent by redirect unchanged rather than read into memory here.
MAX_DOCUMENT_BYTES = 8 * 1024 * 1024
GZIP_MIN_BYTES = 1400  # one packet: not worth compressing below
CORS = {"Access-Control-Allow-Origin": "*"}  # the URL is the credential: embeds on any site


def respond(key: str, grant: Grant, signer: CloudFrontSigner, content_type: str, request: Request,
            rt: Runtime) -> Response:
    lower = key.lower()
    document = lower.endswith((".m3u8", ".vtt"))
    size = rt.media_store.size(key) if document else 0
    if not document or size > MAX_DOCUMENT_BYTES:
        url = signer.cdn_url(grant, key)
        if url is None:  # verify() has checked the grant covers the key; never sign what it does not
            raise ForbiddenError("this playback URL does not cover that file", code="invalid_signature")
        # A redirect may be kept while its target's signature is valid (at most an hour: the step of expiries).
        max_age = max(0, min(3600, int(grant.expires - signer.now())))
        return RedirectResponse(url, status_code=302, headers={"Cache-Control": f"private, max-age={max_age}", **CORS})
    stored = b"".join(rt.media_store.iter_range(key, 0, size - 1)) if size else b""
    text = stored.decode("utf-8", errors="surrogateescape")  # byte for byte whatever we do not rewrite
    rewrite = rewrite_playlist if lower.endswith(".m3u8") else rewrite_thumbnail_track
    body = rewrite(text, key, lambda target: signer.cdn_url(grant, target)).encode("utf-8", errors="surrogateescape")
    # Every file URI now carries the grant's ~600-character signature: a 2 h variant playlist grows from 50 KB
    # to 1.3 MB, and back to 10 KB gzipped (the signature repeats). Players send Accept-Encoding: gzip.
    gzipped = len(body) > GZIP_MIN_BYTES and "gzip" in request.headers.get("accept-encoding", "").lower()
    # The body depends on the stored text and the grant (its expiry is in every URL): a strong ETag of both,
    # per encoding.
    etag = f'"c{hashlib.sha256(body).hexdigest()[:32]}{"-gz" if gzipped else ""}"'
    headers = {"ETag": etag, "Cache-Control": REVALIDATE_CACHE_CONTROL, "Vary": "Accept-Encoding", **CORS}
    if etag_matches(request, etag):
        return Response(status_code=304, headers=headers)
    if gzipped:
        body = gzip.compress(body, compresslevel=5, mtime=0)
        headers["Content-Encoding"] = "gzip"
    if request.method == "HEAD":
        return Response(status_code=200, media_type=content_type, headers={**headers, "Content-Length": str(len(body))})
    return Response(body, media_type=content_type, headers=headers)
