"""HTTP side of caching: ETag / If-None-Match, Cache-Control choices, and 429 with Retry-After."""

from __future__ import annotations

from fastapi import Request, Response
from fastapi.responses import JSONResponse

from vidpipe.cache.ratelimit import RateLimitedError
from vidpipe.cache.reads import Entry

# Metadata can change at any moment (a job finishes): clients may keep it but must revalidate (ETag -> 304).
METADATA_CACHE_CONTROL = "private, no-cache"


def if_none_match_hits(header: str | None, etag: str) -> bool:
    """Whether an If-None-Match header names this ETag (weak or strong) or `*`."""
    if not header:
        return False
    tags = [t.strip().removeprefix("W/") for t in header.split(",")]
    return "*" in tags or etag in tags


def etag_matches(request: Request, etag: str) -> bool:
    return if_none_match_hits(request.headers.get("if-none-match"), etag)


def entry_answer(entry: Entry, if_none_match: str | None, *,
                 cache_control: str = METADATA_CACHE_CONTROL) -> tuple[int, bytes, dict[str, str]]:
    """The one rendering of a cached read, for the route and the ASGI fast path alike: (status, body, headers) —
    the JSON body, or 304 without one when the client's copy is current."""
    headers = {"ETag": entry.etag, "Cache-Control": cache_control}
    if if_none_match_hits(if_none_match, entry.etag):
        return 304, b"", headers
    return 200, entry.body, {**headers, "Content-Type": "application/json"}


def entry_response(request: Request, entry: Entry, *, cache_control: str = METADATA_CACHE_CONTROL) -> Response:
    """The cached JSON body, or 304 when the client's copy is current."""
    status, body, headers = entry_answer(entry, request.headers.get("if-none-match"), cache_control=cache_control)
    return Response(body, status_code=status, headers=headers)


async def rate_limited(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RateLimitedError)
    return JSONResponse({"error": {"code": exc.code, "message": exc.message}}, status_code=429,
                        headers={"Retry-After": str(exc.retry_after)})


# Outputs are rewritten at the same key when a stage is reprocessed, so nothing but the original is immutable:
# playlists and text tracks must be revalidated (they name the segments of the current run); segments and
# images may be kept a day (a reprocess shows its new ones through a fresh playlist, old copies age out).
_REVALIDATE_SUFFIXES = (".m3u8", ".vtt", ".json", ".txt", ".srt")
ORIGINAL_CACHE_CONTROL = "private, max-age=31536000, immutable"  # one upload, one asset id: never rewritten
REVALIDATE_CACHE_CONTROL = "private, no-cache"
SEGMENT_CACHE_CONTROL = "private, max-age=86400"


def media_cache_control(key: str, *, original: bool) -> str:
    if original:
        return ORIGINAL_CACHE_CONTROL
    return REVALIDATE_CACHE_CONTROL if key.lower().endswith(_REVALIDATE_SUFFIXES) else SEGMENT_CACHE_CONTROL
