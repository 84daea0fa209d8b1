"""/v1/uploads: resumable chunked uploads (tus-like). Create a session, PATCH chunks at `Upload-Offset`, and the
PATCH that completes the file ingests it (sha256, dedupe, asset + first jobs) and answers with the asset.

Bytes so far live in `scratch_root/uploads/<id>`, appended and fsynced per chunk; memory stays at one network
chunk whatever the size. The database row's `offset` is the truth: each PATCH takes an exclusive lock on the
file (flock, so API processes on one host or an EFS mount never interleave), truncates it to that offset and
appends. A dropped connection keeps what arrived; the client asks `HEAD` for the offset and goes on from there.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Header, Request, Response, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import delete, update
from starlette.requests import ClientDisconnect

from vidpipe.api import upload as multipart
from vidpipe.api import views
from vidpipe.api.deps import IngestCallerDep, RuntimeDep, SessionDep
from vidpipe.api.schemas import AssetPublic, ErrorBody, StrictInt, Text
from vidpipe.db.models.web import UploadSession
from vidpipe.db.profiles import resolve_profile
from vidpipe.errors import InputError, LimitExceededError, NotFoundError, TransientError, VidpipeError
from vidpipe.ingest.service import IngestRequest, ingest_stream
from vidpipe.runtime import Runtime

log = logging.getLogger(__name__)
router = APIRouter(prefix="/uploads", tags=["uploads"], responses={401: {"model": ErrorBody}})

CHUNK_SIZE = 8 * 1024 * 1024  # what clients should send per PATCH; any size up to the rest is accepted
CONTENT_TYPES = ("application/offset+octet-stream", "application/octet-stream")


class UploadCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    filename: Text = Field(min_length=1, max_length=1000)
    size: StrictInt = Field(ge=0, le=2**63 - 1, description="at most the server's upload limit (413)")
    profile: Text | None = Field(default=None, max_length=64)
    title: Text | None = Field(default=None, max_length=500)
    description: Text | None = Field(default=None, max_length=20_000)
    tags: list[Annotated[Text, Field(max_length=100)]] | None = Field(default=None, max_length=100)
    priority: StrictInt = Field(default=0, ge=-100, le=100)


class UploadPublic(BaseModel):
    id: uuid.UUID
    offset: int
    size: int
    chunk_size: int = CHUNK_SIZE
    expires_at: datetime
    filename: str
    profile: str | None
    asset_id: uuid.UUID | None = Field(description="Set once the last chunk arrived and the file was ingested")
    duplicate: bool | None


class UploadProgress(BaseModel):
    offset: int
    asset: AssetPublic | None = Field(default=None, description="Only in the answer of the completing PATCH")
    duplicate: bool | None = None


def upload_path(rt: Runtime, upload_id: uuid.UUID) -> Path:
    return rt.settings.scratch_root / "uploads" / str(upload_id)


def _public(row: UploadSession) -> UploadPublic:
    return UploadPublic(id=row.id, offset=row.offset, size=row.size, expires_at=row.expires_at, filename=row.filename,
                        profile=row.profile, asset_id=row.asset_id, duplicate=row.duplicate)


def sweep_expired(rt: Runtime) -> int:
    """Drop upload sessions past their expiry, and their files."""
    with rt.db.session() as s, s.begin():
        gone = s.scalars(delete(UploadSession).where(UploadSession.expires_at < datetime.now(UTC))
                         .returning(UploadSession.id)).all()
    for upload_id in gone:
        upload_path(rt, upload_id).unlink(missing_ok=True)
    return len(gone)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=UploadPublic,
             responses={413: {"model": ErrorBody}, 422: {"model": ErrorBody}})
def create_upload(body: UploadCreate, response: Response, session: SessionDep, rt: RuntimeDep,
                  caller: IngestCallerDep) -> UploadPublic:
    """Start a resumable upload of `size` bytes; then PATCH chunks (at most `chunk_size` each is best)."""
    limit = rt.settings.limits.max_upload_bytes
    if body.size > limit:
        raise LimitExceededError(f"a file of {body.size} bytes is larger than the limit of {limit} bytes")
    if body.profile:
        resolve_profile(session, body.profile)  # 422 unknown_profile now, not after the last chunk
    sweep_expired(rt)
    row = UploadSession(id=uuid.uuid4(), actor=caller, filename=body.filename, size=body.size, offset=0,
                        profile=body.profile or None, title=(body.title or "").strip() or None,
                        description=body.description or "",
                        tags=multipart.parse_tags(",".join(body.tags or [])), priority=body.priority,
                        expires_at=datetime.now(UTC) + timedelta(hours=rt.settings.upload_session_hours))
    path = upload_path(rt, row.id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()
    session.add(row)
    session.commit()
    response.headers["Location"] = f"/v1/uploads/{row.id}"
    return _public(row)


def _load(rt: Runtime, upload_id: uuid.UUID, caller: str) -> UploadSession:
    with rt.db.session() as s:
        row = s.get(UploadSession, upload_id)
        if row is None or row.actor != caller or (row.asset_id is None and row.expires_at < datetime.now(UTC)):
            raise NotFoundError(f"upload {upload_id} not found (or expired)")
        s.expunge(row)
        return row


@router.get("/{upload_id}", response_model=UploadPublic, responses={404: {"model": ErrorBody}})
def get_upload(upload_id: uuid.UUID, rt: RuntimeDep, caller: IngestCallerDep) -> UploadPublic:
    return _public(_load(rt, upload_id, caller))


@router.head("/{upload_id}", status_code=204, responses={404: {"model": ErrorBody}})
def head_upload(upload_id: uuid.UUID, rt: RuntimeDep, caller: IngestCallerDep) -> Response:
    """The offset to resume from, in `Upload-Offset` (and the total in `Upload-Length`)."""
    row = _load(rt, upload_id, caller)
    return Response(status_code=204, headers={"Upload-Offset": str(row.offset), "Upload-Length": str(row.size),
                                              "Cache-Control": "no-store"})


@router.delete("/{upload_id}", status_code=204, responses={404: {"model": ErrorBody}})
def abort_upload(upload_id: uuid.UUID, rt: RuntimeDep, caller: IngestCallerDep) -> Response:
    """Give up an unfinished upload; its bytes are removed."""
    _load(rt, upload_id, caller)
    with rt.db.session() as s, s.begin():
        s.execute(delete(UploadSession).where(UploadSession.id == upload_id))
    upload_path(rt, upload_id).unlink(missing_ok=True)
    return Response(status_code=204)


def _conflict(code: str, message: str, offset: int) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}, "offset": offset}, status_code=409,
                        headers={"Upload-Offset": str(offset)})


@router.patch("/{upload_id}", response_model=UploadProgress,
              responses={404: {"model": ErrorBody}, 409: {"description": "offset_mismatch / upload_busy + `offset`"},
                         413: {"model": ErrorBody}, 415: {"model": ErrorBody}, 422: {"model": ErrorBody}},
              openapi_extra={"requestBody": {"required": True, "content": {
                  "application/offset+octet-stream": {"schema": {"type": "string", "format": "binary"}}}}})
async def patch_upload(upload_id: uuid.UUID, request: Request, rt: RuntimeDep, caller: IngestCallerDep,
                       upload_offset: Annotated[int, Header(ge=0, le=2**63 - 1)]) -> Any:
    """Append the body at `Upload-Offset` (must equal the current offset, else 409 with the current one).
    The chunk that completes the file ingests it: the answer then carries `asset` and `duplicate`."""
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type not in CONTENT_TYPES:
        raise _UnsupportedType("send chunks as Content-Type: application/offset+octet-stream")
    row = await anyio.to_thread.run_sync(_load, rt, upload_id, caller)
    path = upload_path(rt, upload_id)
    if row.asset_id is not None:  # finished already (a retried last PATCH whose answer was lost)
        if upload_offset != row.size:
            return _conflict("offset_mismatch", "the upload is complete", row.size)
        return await anyio.to_thread.run_sync(_finished, rt, row)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)  # after the truncate below, the end is the offset
    except FileNotFoundError:
        raise NotFoundError(f"upload {upload_id} not found (or expired)") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return _conflict("upload_busy", "another request is writing to this upload; retry after HEAD",
                             row.offset)
        row = await anyio.to_thread.run_sync(_load, rt, upload_id, caller)  # the offset as of holding the lock
        if row.asset_id is not None or upload_offset != row.offset:
            current = row.size if row.asset_id is not None else row.offset
            return _conflict("offset_mismatch", f"Upload-Offset is {upload_offset} but the upload is at {current}",
                             current)
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and row.offset + int(declared) > row.size:
            raise LimitExceededError(f"the chunk of {declared} bytes goes past the declared size of {row.size} "
                                     f"bytes (offset {row.offset})")
        os.ftruncate(fd, row.offset)  # bytes of a write that never got recorded are not data
        try:
            offset = await _append(fd, request, row)
        except _Interrupted as exc:  # keep what arrived; nobody may be listening for this answer
            await anyio.to_thread.run_sync(_save_offset, rt, upload_id, row.offset, exc.offset)
            return JSONResponse({"error": {"code": exc.code, "message": exc.message}, "offset": exc.offset},
                                status_code=exc.http_status, headers={"Upload-Offset": str(exc.offset)})
        if offset != row.offset:
            await anyio.to_thread.run_sync(_save_offset, rt, upload_id, row.offset, offset)
        if offset < row.size:
            return UploadProgress(offset=offset)
        return await anyio.to_thread.run_sync(_finalize, rt, row, path)
    finally:
        os.close(fd)  # releases the lock


async def _append(fd: int, request: Request, row: UploadSession) -> int:
    """Write the body at the end of the file as it arrives; returns the new offset (what arrived and was
    fsynced, also when the client went away mid-chunk). Going past the declared size keeps nothing."""
    offset = row.offset
    try:
        async for chunk in request.stream():
            if not chunk:
                continue
            if offset + len(chunk) > row.size:
                os.ftruncate(fd, row.offset)
                raise LimitExceededError(f"the chunk goes past the declared size of {row.size} bytes")
            await anyio.to_thread.run_sync(os.write, fd, chunk)
            offset += len(chunk)
    except VidpipeError:
        raise
    except (ClientDisconnect, Exception) as exc:  # the client went away (or its body stream broke) mid-chunk
        log.info("upload.interrupted", extra={"upload": str(row.id), "offset": offset,
                                              "error": type(exc).__name__})
        await anyio.to_thread.run_sync(os.fsync, fd)
        raise _Interrupted(offset) from None
    await anyio.to_thread.run_sync(os.fsync, fd)
    return offset


class _UnsupportedType(InputError):
    code = "unsupported_media_type"
    http_status = 415


class _Interrupted(InputError):
    """The body ended early; what arrived is kept (the caller records it before answering)."""

    code = "client_disconnected"
    http_status = 400

    def __init__(self, offset: int) -> None:
        super().__init__(f"the chunk was cut off at offset {offset}; resume from there (HEAD gives it)")
        self.offset = offset


def _save_offset(rt: Runtime, upload_id: uuid.UUID, old: int, new: int) -> None:
    hours = rt.settings.upload_session_hours
    with rt.db.session() as s, s.begin():
        s.execute(update(UploadSession).where(UploadSession.id == upload_id, UploadSession.offset == old)
                  .values(offset=new, expires_at=datetime.now(UTC) + timedelta(hours=hours)))


def _finalize(rt: Runtime, row: UploadSession, path: Path) -> Any:
    req = IngestRequest(source_kind="upload", original_name=row.filename, title=row.title,
                        description=row.description, tags=list(row.tags), profile=row.profile, priority=row.priority,
                        actor=row.actor)
    try:
        with open(path, "rb") as fh:
            result = ingest_stream(rt, req, fh)
    except TransientError:
        raise  # the bytes stay: PATCH again at offset == size (empty body) to retry the ingest
    except VidpipeError:
        _forget(rt, row.id, path)  # the file itself was refused (empty, unknown profile, ...): the error answers
        raise
    with rt.db.session() as s, s.begin():
        s.execute(update(UploadSession).where(UploadSession.id == row.id)
                  .values(asset_id=result.asset.id, duplicate=result.duplicate))
    path.unlink(missing_ok=True)
    log.info("upload.finished", extra={"upload": str(row.id), "asset": str(result.asset.id),
                                       "duplicate": result.duplicate})
    row.asset_id, row.duplicate = result.asset.id, result.duplicate
    return _finished(rt, row)


def _finished(rt: Runtime, row: UploadSession) -> UploadProgress:
    assert row.asset_id is not None
    rt.cache.invalidate_assets([row.asset_id])  # lists show it now
    with rt.db.session() as s:
        asset = views.load_asset(s, row.asset_id, rt.settings.public_base_url, rt.playback)
    return UploadProgress(offset=row.size, asset=asset, duplicate=bool(row.duplicate))


def _forget(rt: Runtime, upload_id: uuid.UUID, path: Path) -> None:
    with contextlib.suppress(Exception), rt.db.session() as s, s.begin():
        s.execute(delete(UploadSession).where(UploadSession.id == upload_id))
    path.unlink(missing_ok=True)
