"""/v1/media/{key}: stored originals and outputs, with HTTP Range (seeking players, resumable downloads).

Only keys the database knows are served: an artifact row of the asset, or the asset's original.
"""

from __future__ import annotations

import re
import uuid
from urllib.parse import quote

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse
from sqlalchemy import literal, null, select, union_all
from sqlalchemy.orm import Session

from vidpipe.api.deps import MediaCallerDep, RuntimeDep, SessionDep
from vidpipe.api.handlers import error_response
from vidpipe.api.ranges import Unsatisfiable, guess_content_type, parse_range
from vidpipe.api.schemas import ErrorBody
from vidpipe.blobs.base import check_key
from vidpipe.cache.http import media_cache_control
from vidpipe.errors import NotFoundError
from vidpipe.store.models import Artifact, Asset

router = APIRouter(prefix="/media", tags=["media"], responses={401: {"model": ErrorBody}, 404: {"model": ErrorBody}})

MAX_PLAYLIST_BYTES = 4 * 1024 * 1024
_URI_ATTR = re.compile(r'URI="([^"]*)"')
_HAS_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:|^/")


def _lookup(session: Session, key: str) -> tuple[str, str]:
    """(content type, ETag) of a stored key the database knows about, else NotFoundError."""
    try:
        asset_id = uuid.UUID(key.split("/", 1)[0])
    except ValueError:
        raise NotFoundError(f"no media at {key}") from None
    artifact = select(Artifact.content_type, Artifact.id, Artifact.size_bytes, null().label("sha256"),
                      literal("").label("name")).where(Artifact.asset_id == asset_id, Artifact.key == key)
    original = select(Asset.content_type, null().label("id"), Asset.size_bytes, Asset.sha256,
                      Asset.original_name).where(Asset.id == asset_id, Asset.original_key == key)
    row = session.execute(union_all(artifact, original).limit(1)).first()
    if row is None:
        raise NotFoundError(f"no media at {key}")
    if row.sha256:  # the original: its hash is the strongest validator there is
        return row.content_type or guess_content_type(row.name), f'"{row.sha256}"'
    return row.content_type or guess_content_type(key), f'"a{row.id}-{row.size_bytes}"'


def _with_key(uri: str, api_key: str) -> str:
    if not uri or _HAS_SCHEME.match(uri):
        return uri
    return f"{uri}{'&' if '?' in uri else '?'}api_key={quote(api_key, safe='')}"


def rewrite_playlist(text: str, api_key: str) -> str:
    """Carry `?api_key=` into the relative URIs of a playlist, so a header-less player can follow it."""
    lines = []
    for line in text.splitlines():
        if line.startswith("#"):
            line = _URI_ATTR.sub(lambda m: f'URI="{_with_key(m.group(1), api_key)}"', line)
        elif line.strip():
            line = _with_key(line.strip(), api_key)
        lines.append(line)
    return "\n".join(lines) + "\n"


@router.head("/{key:path}", operation_id="head_media", response_class=Response)
@router.get("/{key:path}", operation_id="get_media", response_class=Response,
            responses={206: {"description": "Partial content"}, 416: {"model": ErrorBody}})
def get_media(key: str, request: Request, session: SessionDep, rt: RuntimeDep, caller: MediaCallerDep) -> Response:
    """Serve a stored file. Supports `Range: bytes=a-b | a- | -n`, `If-None-Match` and `If-Range`."""
    check_key(key)
    content_type, etag = _lookup(session, key)
    session.close()  # the stream below may take long; give the connection back now
    size = rt.blobs.size(key)
    headers = {"Accept-Ranges": "bytes", "ETag": etag,
               "Cache-Control": media_cache_control(key, original=not etag.startswith('"a'))}
    if etag in [t.strip() for t in request.headers.get("if-none-match", "").split(",")]:
        return Response(status_code=304, headers=headers)
    api_key = request.query_params.get("api_key")
    if api_key and key.endswith(".m3u8") and size <= MAX_PLAYLIST_BYTES:
        with rt.blobs.open_read(key) as fh:
            body = rewrite_playlist(fh.read().decode("utf-8", errors="replace"), api_key).encode()
        headers["Cache-Control"] = "private, no-store"
        del headers["Accept-Ranges"], headers["ETag"]  # per-key content: not the stored bytes
        return Response(body if request.method == "GET" else b"", media_type=content_type, headers=headers)
    range_header = request.headers.get("range")
    if_range = request.headers.get("if-range")
    if if_range is not None and if_range.strip() != etag:
        range_header = None  # the client's copy is stale: send it all
    try:
        wanted = parse_range(range_header, size)
    except Unsatisfiable:
        return error_response(416, "range_not_satisfiable", f"the range is outside the {size} bytes of {key}",
                              {"Content-Range": f"bytes */{size}", **headers})
    status, start, end = 200, 0, size - 1
    if wanted is not None:
        status, start, end = 206, wanted.start, wanted.end
        headers["Content-Range"] = wanted.content_range(size)
    headers["Content-Length"] = str(end - start + 1)
    if request.method == "HEAD" or size == 0:
        return Response(status_code=status, media_type=content_type, headers=headers)
    return StreamingResponse(rt.blobs.iter_range(key, start, end), status_code=status, media_type=content_type,
                             headers=headers)
