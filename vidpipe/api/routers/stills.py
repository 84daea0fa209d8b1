"""GET /v1/assets/{id}/thumbnail.jpg?time=…&width=…: the picture at any moment of a video (search hits, scenes,
scrub previews), made once from the original and kept under the asset's prefix (vidpipe.api.thumbnail_at)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy import select

from vidpipe.api import thumbnail_at
from vidpipe.api.deps import CallerDep, RuntimeDep, SessionDep
from vidpipe.api.schemas import ErrorBody
from vidpipe.db.models import Asset, MediaInfo
from vidpipe.errors import NotFoundError

router = APIRouter(prefix="/assets", tags=["assets"], responses={401: {"model": ErrorBody}, 404: {"model": ErrorBody}})


@router.get("/{asset_id}/thumbnail.jpg", response_class=Response,
            responses={200: {"content": {"image/jpeg": {}}}, 304: {"description": "Not modified"},
                       422: {"model": ErrorBody}})
def thumbnail(asset_id: uuid.UUID, request: Request, session: SessionDep, rt: RuntimeDep, caller: CallerDep,
              time: Annotated[float, Query(ge=0, le=7 * 24 * 3600, description="seconds into the video")] = 0.0,
              width: Annotated[int | None, Query(ge=1, le=10_000, description="pixels (32–1280, made even)")] = None,
              exact: Annotated[bool, Query(description="false: the key frame at or before `time` (faster)")] = True,
              ) -> Response:
    """The frame on screen at `time` (or the key frame before it), `width` pixels wide, as JPEG."""
    row = session.execute(select(Asset.original_key, MediaInfo.duration, MediaInfo.fps, MediaInfo.has_video)
                          .join(MediaInfo, MediaInfo.asset_id == Asset.id).where(Asset.id == asset_id)).first()
    if row is None or not row.has_video:
        raise NotFoundError(f"asset {asset_id} has no pictures (not found, not probed yet, or audio only)")
    session.close()  # making the still may take a while; give the connection back now
    req = thumbnail_at.still_request(time, width, row.duration, row.fps, exact)
    etag = f'"{req.key(asset_id).rsplit("/", 1)[1]}"'
    headers = {"ETag": etag, "Cache-Control": "private, max-age=86400"}
    if etag in [t.strip() for t in request.headers.get("if-none-match", "").split(",")]:
        return Response(status_code=304, headers=headers)
    key = thumbnail_at.cached_still(rt.media_store, asset_id, row.original_key, req, rt.settings.scratch_root,
                                    max_frame_pixels=rt.settings.limits.max_frame_pixels)
    with rt.media_store.open_read(key) as fh:
        body = fh.read()
    return Response(body, media_type="image/jpeg", headers=headers)
