"""GET /v1/assets/{id}/download.mp4?rendition=720p: one rendition as a single MP4 file (a stream copy of its HLS
segments, no re-encode), made on first request and kept under the asset's prefix."""

from __future__ import annotations

import shutil
import subprocess
import threading
import uuid
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse
from sqlalchemy import select

from vidpipe.api.deps import CallerDep, RuntimeDep, SessionDep
from vidpipe.api.ranges import Unsatisfiable, parse_range
from vidpipe.api.schemas import ErrorBody
from vidpipe.db.models import Asset, Rendition
from vidpipe.errors import MediaDecodeError, NotFoundError
from vidpipe.ffmpeg.process import run_ffmpeg
from vidpipe.mediastore.base import MediaStore

router = APIRouter(prefix="/assets", tags=["assets"], responses={401: {"model": ErrorBody}, 404: {"model": ErrorBody}})
_REMUXING = threading.BoundedSemaphore(2)  # stream copies are cheap but read every segment


def download_key(asset_id: uuid.UUID, rendition: str) -> str:
    return f"{asset_id}/downloads/{rendition}.mp4"


def remux_to_mp4(blobs: MediaStore, playlist_key: str, out: Path, work: Path) -> Path:
    """Copy a rendition's playlist and segments into `work`, then stream-copy them into one faststart MP4."""
    prefix = playlist_key.rsplit("/", 1)[0] + "/"
    for key in blobs.list(prefix):
        with blobs.open_read(key) as src, open(work / key[len(prefix):].replace("/", "_"), "wb") as dst:
            shutil.copyfileobj(src, dst)
    playlist = work / playlist_key.rsplit("/", 1)[1]
    args = ["-allowed_extensions", "ALL", "-protocol_whitelist", "file", "-f", "hls", "-i", str(playlist),
            "-map", "0:v?", "-map", "0:a?", "-c", "copy", "-movflags", "+faststart", "-f", "mp4", str(out)]
    with _REMUXING:
        try:
            run_ffmpeg(args, timeout=600)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            raise MediaDecodeError(f"could not make the MP4 of {playlist_key}: {exc}") from exc
    return out


@router.get("/{asset_id}/download.mp4", response_class=Response,
            responses={200: {"content": {"video/mp4": {}}}, 206: {"description": "Partial content"}})
def download_mp4(asset_id: uuid.UUID, request: Request, session: SessionDep, rt: RuntimeDep, caller: CallerDep,
                 rendition: Annotated[str, Query(max_length=64, pattern=r"^[A-Za-z0-9_-]+$",
                                                 description="a rendition name, e.g. 720p or audio_eng")],
                 ) -> Response:
    """The rendition as one MP4 (attachment), with Range for resumable downloads."""
    row = session.execute(select(Rendition.playlist_key, Rendition.kind, Asset.original_name)
                          .join(Asset, Asset.id == Rendition.asset_id)
                          .where(Rendition.asset_id == asset_id, Rendition.name == rendition)).first()
    if row is None or row.kind not in ("video", "audio"):
        raise NotFoundError(f"asset {asset_id} has no video or audio rendition {rendition!r}")
    session.close()
    key = download_key(asset_id, rendition)
    if not rt.media_store.exists(key):
        work = rt.settings.scratch_root / f"download-{uuid.uuid4().hex}"
        work.mkdir(parents=True, exist_ok=True)
        try:
            mp4 = remux_to_mp4(rt.media_store, row.playlist_key, work / "out.mp4", work)
            rt.media_store.put_file(key, mp4, "video/mp4")
        finally:
            shutil.rmtree(work, ignore_errors=True)
    size = rt.media_store.size(key)
    stem = Path(row.original_name or "video").stem or "video"
    name = f"{stem}-{rendition}.mp4"
    headers = {"Accept-Ranges": "bytes", "Cache-Control": "private, max-age=3600",
               "Content-Disposition": f"attachment; filename=\"{quote(name)}\"; filename*=UTF-8''{quote(name)}"}
    try:
        span = parse_range(request.headers.get("range"), size)
    except Unsatisfiable:
        return Response(status_code=416, headers={"Content-Range": f"bytes */{size}"})
    start, end = (span.start, span.end) if span else (0, size - 1)
    if span:
        headers["Content-Range"] = span.content_range(size)
    headers["Content-Length"] = str(end - start + 1)
    return StreamingResponse(rt.media_store.iter_range(key, start, end), status_code=206 if span else 200,
                             media_type="video/mp4", headers=headers)
