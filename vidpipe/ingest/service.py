"""Turn incoming bytes into an asset: stream to the media store while hashing, then one transaction that
inserts the asset, its first jobs and the audit event. Identical bytes are recognised, not reprocessed."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vidpipe.db import events
from vidpipe.db.models import Asset
from vidpipe.db.profiles import resolve_profile
from vidpipe.errors import InputError
from vidpipe.jobs import queue as jobs
from vidpipe.mediastore.base import Readable, Staging
from vidpipe.profiles import Profile
from vidpipe.runtime import Runtime
from vidpipe.stages import registry
from vidpipe.states import AssetStatus

log = logging.getLogger(__name__)


@dataclass
class IngestRequest:
    source_kind: str  # upload | path | url | s3 | kinesis
    original_name: str = ""
    source_ref: str | None = None
    title: str | None = None
    description: str = ""
    tags: list[str] = field(default_factory=list)
    profile: str | None = None
    priority: int = 0
    content_type: str | None = None
    actor: str = "cli"


@dataclass
class IngestResult:
    asset: Asset
    duplicate: bool


def _sanitize(name: str) -> str:
    from vidpipe.ingest.names import sanitize_filename

    return sanitize_filename(name) if name else "upload"


def ingest(rt: Runtime, req: IngestRequest, fill: Callable[[Staging], None], *,
           within: Callable[[Session, uuid.UUID], None] | None = None,
           detail: dict[str, Any] | None = None) -> IngestResult:
    """`fill` streams the bytes into the staging area; everything after that is ours.

    `within(session, asset_id)` runs inside the transaction that records the asset (new or duplicate), so a
    caller's own bookkeeping (e.g. a stream checkpoint) commits or fails with it; `detail` joins the event."""
    detail = detail or {}
    _profile(rt, req.profile or rt.settings.default_profile)  # fail fast, before any bytes move
    with rt.media_store.open_staging(rt.settings.limits.max_upload_bytes) as staging:
        fill(staging)
        # fill may complete the request (form fields after the file part, a URL's file name): resolve now.
        profile = _profile(rt, req.profile or rt.settings.default_profile).name
        if staging.size == 0:
            raise InputError("the file is empty (0 bytes)", code="empty_file")
        existing = _find_by_hash(rt, staging.sha256)
        if existing is not None:
            return _duplicate(rt, existing, req, within, detail)
        asset_id = uuid.uuid4()
        stored = staging.commit(f"{asset_id}/original")
    name = _sanitize(req.original_name)
    asset = Asset(id=asset_id, title=req.title or Path(name).stem or name, description=req.description,
                  tags=list(req.tags), source_kind=req.source_kind, source_ref=req.source_ref, original_name=name,
                  sha256=stored.sha256, size_bytes=stored.size, content_type=req.content_type,
                  original_key=stored.key, profile=profile, status=AssetStatus.QUEUED, created_by=req.actor)
    try:
        with rt.db.session() as s, s.begin():
            s.add(asset)
            s.flush()
            events.record(s, "asset.created", actor=req.actor, asset_id=asset_id, source_kind=req.source_kind,
                          original_name=name, sha256=stored.sha256, size_bytes=stored.size, profile=profile,
                          **detail)
            for stage in registry.FIRST_STAGES:
                jobs.enqueue(s, asset_id, stage, actor=req.actor,
                             priority=req.priority + registry.STAGES[stage].priority,
                             max_attempts=rt.settings.queue.max_attempts)
            if within is not None:
                within(s, asset_id)
    except IntegrityError:
        # The same bytes arrived concurrently and the other upload won the unique sha256.
        rt.media_store.delete_prefix(str(asset_id))
        existing = _find_by_hash(rt, stored.sha256)
        if existing is None:
            raise
        return _duplicate(rt, existing, req, within, detail)
    except BaseException:
        rt.media_store.delete_prefix(str(asset_id))
        raise
    log.info("asset.created", extra={"asset": str(asset_id), "size": stored.size})
    return IngestResult(asset, duplicate=False)


def _profile(rt: Runtime, name: str) -> Profile:
    """A built-in or stored profile (vidpipe.db.profiles), or InputError(unknown_profile)."""
    with rt.db.session() as s:
        return resolve_profile(s, name)


def _find_by_hash(rt: Runtime, sha256: str) -> Asset | None:
    with rt.db.session() as s:
        return s.scalar(select(Asset).where(Asset.sha256 == sha256))


def _duplicate(rt: Runtime, existing: Asset, req: IngestRequest,
               within: Callable[[Session, uuid.UUID], None] | None = None,
               detail: dict[str, Any] | None = None) -> IngestResult:
    with rt.db.session() as s, s.begin():
        if within is not None:
            within(s, existing.id)
        events.record(s, "asset.duplicate_ingest", actor=req.actor, asset_id=existing.id,
                      source_kind=req.source_kind, original_name=_sanitize(req.original_name), **(detail or {}))
    return IngestResult(existing, duplicate=True)


def ingest_stream(rt: Runtime, req: IngestRequest, chunks: Iterable[bytes] | BinaryIO) -> IngestResult:
    def fill(staging: Staging) -> None:
        if isinstance(chunks, Readable):  # a file (Readable is runtime-checkable: the test is hasattr "read")
            staging.copy_from(chunks)
        else:
            for chunk in chunks:
                staging.write(chunk)

    return ingest(rt, req, fill)


def ingest_path(rt: Runtime, raw_path: str | Path, req: IngestRequest, *, roots: list[Path] | None = None
                ) -> IngestResult:
    """Ingest a file that lies below one of the import roots (never anywhere else)."""
    from vidpipe.ingest.paths import resolve_import_path

    path = resolve_import_path(raw_path, roots if roots is not None else rt.settings.import_roots)
    req.original_name = req.original_name or path.name
    req.source_ref = req.source_ref or str(path)
    with open(path, "rb") as fh:
        return ingest_stream(rt, req, fh)


def ingest_url(rt: Runtime, url: str, req: IngestRequest) -> IngestResult:
    """Download a URL (public addresses only unless allowed by configuration) and ingest it."""
    from vidpipe.ingest.url import fetch_url

    st = rt.settings
    hint: dict[str, str | None] = {}

    def fill(staging: Staging) -> None:
        result = fetch_url(url, staging.write, allow_networks=st.url_allow_networks,
                           max_bytes=st.limits.max_upload_bytes, timeout=st.url_timeout_seconds)
        hint["name"] = result.filename_hint
        hint["content_type"] = result.content_type

    req.source_ref = req.source_ref or url
    # The file name is only known after the download; ingest() reads it from the request when it finalises.
    original_fill = fill

    def fill_and_name(staging: Staging) -> None:
        original_fill(staging)
        req.original_name = req.original_name or hint.get("name") or "download"
        req.content_type = req.content_type or hint.get("content_type")

    return ingest(rt, req, fill_and_name)
