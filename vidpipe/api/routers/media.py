"""/v1/media/{key}: stored originals and outputs, with HTTP Range (seeking players, resumable downloads).

Only keys the database knows are served: an artifact row of the asset, or the asset's original. With an API key
in a header (role read) or the console's session at `/v1/media/{key}`; with a signed URL (vidpipe.playback) at
`/v1/play/{token}/{key}`. API keys in query strings are not accepted anywhere (they end up in logs).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import StreamingResponse
from sqlalchemy import Row, literal, null, select, union_all
from sqlalchemy.orm import Session

from vidpipe.api import cdn_play
from vidpipe.api.deps import CallerDep, RuntimeDep, SessionDep
from vidpipe.api.handlers import error_response
from vidpipe.api.ranges import Unsatisfiable, guess_content_type, parse_range
from vidpipe.api.schemas import ErrorBody
from vidpipe.cache.http import media_cache_control
from vidpipe.db.models import Artifact, Asset
from vidpipe.errors import NotFoundError
from vidpipe.mediastore.base import check_key
from vidpipe.playback.signing import CloudFrontSigner
from vidpipe.runtime import Runtime

router = APIRouter(prefix="/media", tags=["media"], responses={401: {"model": ErrorBody}, 404: {"model": ErrorBody}})

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
    # the two selects' column types differ (NULL, '' stand-ins), so the union's row type is spelled out
    row: Row[*tuple[Any, ...]] | None = session.execute(union_all(artifact, original).limit(1)).first()
    if row is None:
        raise NotFoundError(f"no media at {key}")
    if row.sha256:  # the original: its hash is the strongest validator there is
        return row.content_type or guess_content_type(row.name), f'"{row.sha256}"'
    return row.content_type or guess_content_type(key), f'"a{row.id}-{row.size_bytes}"'


# What keys look like (check_key): documented; anything else is refused with 400 unsafe_source.
MediaKey = Annotated[str, Path(json_schema_extra={
    "pattern": r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)*$"})]
PlayToken = Annotated[str, Path(max_length=400, json_schema_extra={
    "pattern": r"^[0-9]{1,12}\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]{43}$"})]


@router.head("/{key:path}", operation_id="head_media", response_class=Response)
@router.get("/{key:path}", operation_id="get_media", response_class=Response,
            responses={206: {"description": "Partial content"}, 416: {"model": ErrorBody}})
def get_media(key: MediaKey, request: Request, session: SessionDep, rt: RuntimeDep, caller: CallerDep) -> Response:
    """Serve a stored file (an API key in a header, or the console's session). Supports
    `Range: bytes=a-b | a- | -n`, `If-None-Match` and `If-Range`. Players use the signed `playback` URLs."""
    return serve_media(key, request, session, rt)


play_router = APIRouter(prefix="/play", tags=["media"],
                        responses={403: {"model": ErrorBody, "description": "Not signed here, expired, or not "
                                                                            "covered by the URL's grant"},
                                   404: {"model": ErrorBody}})


@play_router.head("/{token}/{key:path}", operation_id="head_signed_media", response_class=Response)
@play_router.get("/{token}/{key:path}", operation_id="get_signed_media", response_class=Response,
                 responses={206: {"description": "Partial content"}, 416: {"model": ErrorBody},
                            302: {"description": "CloudFront deployments: the file's CloudFront signed URL"}})
def get_signed_media(token: PlayToken, key: MediaKey, request: Request, session: SessionDep,
                     rt: RuntimeDep) -> Response:
    """A stored file through a signed, expiring URL (the `playback` links of an asset); no API key. The
    grant covers a prefix of the asset's files, so relative URIs inside HLS playlists work as they are. With
    the CloudFront signer, playlists come back with their file URIs signed for CloudFront, other files as a
    302 to CloudFront (vidpipe.api.cdn_play)."""
    check_key(key)
    signer = rt.playback
    grant = signer.verify(token, key)
    if isinstance(signer, CloudFrontSigner):  # playlists rewritten here, every file from CloudFront
        content_type, _ = _lookup(session, key)
        session.close()
        return cdn_play.respond(key, grant, signer, content_type, request, rt)
    response = serve_media(key, request, session, rt)
    response.headers["Access-Control-Allow-Origin"] = "*"  # the URL is the credential: embeds on any site
    return response


def serve_media(key: str, request: Request, session: Session, rt: Runtime) -> Response:
    check_key(key)
    content_type, etag = _lookup(session, key)
    session.close()  # the stream below may take long; give the connection back now
    size = rt.media_store.size(key)
    headers = {"Accept-Ranges": "bytes", "ETag": etag,
               "Cache-Control": media_cache_control(key, original=not etag.startswith('"a'))}
    if etag in [t.strip() for t in request.headers.get("if-none-match", "").split(",")]:
        return Response(status_code=304, headers=headers)
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
    return StreamingResponse(rt.media_store.iter_range(key, start, end), status_code=status, media_type=content_type,
                             headers=headers)
