"""Ingest from a Kinesis stream: ingest events and S3 object-created notifications become assets, exactly once.

- Idempotent: each record (or its `event_id`, or an S3 object's sequencer) is claimed in `ingest_records` in the
  same transaction as the asset it creates, so a replayed record creates nothing; identical bytes are caught by
  the existing sha256 dedupe on top.
- Durable position: the last handled sequence number per shard lives in `kinesis_checkpoints` (written with the
  asset, or alone for skipped records); a restarted consumer resumes AFTER it.
- A malformed record, or one whose input is permanently unusable, is skipped with a logged reason and an
  `ingest.record_skipped` event; a transient failure re-reads the record from the checkpoint, up to a bound.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vidpipe.cloud.ingest_events import Item, MalformedRecordError, parse_record
from vidpipe.db import events
from vidpipe.db.models.cloud import IngestRecord, KinesisCheckpoint
from vidpipe.errors import InputError, LimitExceededError, StorageError, VidpipeError
from vidpipe.ingest import service
from vidpipe.ingest.service import IngestRequest, IngestResult
from vidpipe.mediastore.base import Staging
from vidpipe.runtime import Runtime

log = logging.getLogger(__name__)

ACTOR = "kinesis"
MAX_RECORD_ATTEMPTS = 5  # transient failures of one record before it is skipped rather than stall its shard
SHARD_REFRESH_SECONDS = 60.0  # how often new shards (after a reshard) are looked for


# --- ingesting, with the record claimed in the asset's transaction ------------------------------------------
@dataclass(frozen=True)
class Claim:
    """Where a record sits in the stream, and the key that makes it count once."""

    record_key: str
    stream: str
    shard_id: str
    sequence_number: str


def _claimed(rt: Runtime, record_key: str) -> bool:
    with rt.db.session() as s:
        return s.scalar(select(IngestRecord.id).where(IngestRecord.record_key == record_key)) is not None


def save_checkpoint(s: Session, stream: str, shard_id: str, sequence_number: str) -> None:
    stmt = insert(KinesisCheckpoint).values(stream=stream, shard_id=shard_id, sequence_number=sequence_number)
    s.execute(stmt.on_conflict_do_update(index_elements=["stream", "shard_id"],
                                         set_={"sequence_number": sequence_number, "updated_at": func.now()}))


def load_checkpoint(rt: Runtime, stream: str, shard_id: str) -> str | None:
    with rt.db.session() as s:
        return s.scalar(select(KinesisCheckpoint.sequence_number).where(KinesisCheckpoint.stream == stream,
                                                                        KinesisCheckpoint.shard_id == shard_id))


def _record_claim(s: Session, claim: Claim, asset_id: uuid.UUID | None) -> None:
    s.add(IngestRecord(record_key=claim.record_key, asset_id=asset_id, stream=claim.stream, shard_id=claim.shard_id,
                       sequence_number=claim.sequence_number))
    s.flush()  # the unique record_key fires here, inside the transaction, if another consumer got there first
    save_checkpoint(s, claim.stream, claim.shard_id, claim.sequence_number)


def ingest_claimed(rt: Runtime, req: IngestRequest, fill: Callable[[Staging], None], claim: Claim
                   ) -> IngestResult | None:
    """`service.ingest`, with the record's claim and the shard checkpoint in the asset's transaction; None for
    a replay (the record was claimed before, or concurrently by another consumer)."""
    if _claimed(rt, claim.record_key):
        return None
    try:
        return service.ingest(rt, req, fill, within=lambda s, asset_id: _record_claim(s, claim, asset_id),
                              detail={"record_key": claim.record_key})
    except IntegrityError:
        if _claimed(rt, claim.record_key):  # the same record, handled concurrently
            return None
        raise


def ingest_s3(rt: Runtime, bucket: str, key: str, req: IngestRequest, *, client: Any | None = None,
              claim: Claim | None = None) -> IngestResult | None:
    """Stream an object from a bucket into the media store (never through local disk) and ingest it."""
    if client is None:
        from vidpipe.cloud.clients import aws_client

        client = aws_client(rt.settings, "s3")
    req.source_kind = "s3"
    req.source_ref = f"s3://{bucket}/{key}"
    req.original_name = req.original_name or key.rsplit("/", 1)[-1]
    limit = rt.settings.limits.max_upload_bytes

    def fill(staging: Staging) -> None:
        try:
            obj = client.get_object(Bucket=bucket, Key=key)
        except Exception as exc:
            code = str(getattr(exc, "response", {}).get("Error", {}).get("Code", "")) or type(exc).__name__
            if code in ("NoSuchKey", "404", "NoSuchBucket", "AccessDenied"):
                raise InputError(f"cannot read s3://{bucket}/{key}: {code}", code="source_unavailable") from exc
            raise StorageError(f"reading s3://{bucket}/{key} failed: {code}") from exc
        body = obj["Body"]
        try:
            if obj.get("ContentLength", 0) > limit:  # refuse before moving a byte
                raise LimitExceededError(f"upload is larger than the limit of {limit} bytes")
            req.content_type = req.content_type or obj.get("ContentType")
            staging.copy_from(body)
        finally:
            body.close()

    if claim is None:
        return service.ingest(rt, req, fill)
    return ingest_claimed(rt, req, fill, claim)


def ingest_url_claimed(rt: Runtime, url: str, req: IngestRequest, claim: Claim) -> IngestResult | None:
    """URL ingest with the same safety rules as `service.ingest_url` (public addresses only), claimed."""
    from vidpipe.ingest.url import fetch_url

    st = rt.settings
    req.source_kind, req.source_ref = "url", url

    def fill(staging: Staging) -> None:
        result = fetch_url(url, staging.write, allow_networks=st.url_allow_networks,
                           max_bytes=st.limits.max_upload_bytes, timeout=st.url_timeout_seconds)
        req.original_name = req.original_name or result.filename_hint or "download"
        req.content_type = req.content_type or result.content_type

    return ingest_claimed(rt, req, fill, claim)


# --- the consumer -------------------------------------------------------------------------------------------
@dataclass
class ConsumerStats:
    records: int = 0
    created: int = 0
    duplicates: int = 0
    replayed: int = 0
    skipped: int = 0
    get_records_calls: int = 0


@dataclass
class _Shard:
    shard_id: str
    iterator: str | None = None
    closed: bool = False
    attempts: dict[str, int] = field(default_factory=dict)


class KinesisConsumer:
    """Polls every shard of a stream (one consumer process per stream; the claims keep a second one harmless)."""

    def __init__(self, rt: Runtime, stream: str, *, kinesis: Any, s3: Any | None = None,
                 start: str = "TRIM_HORIZON", limit: int = 100, idle_seconds: float = 1.0) -> None:
        self.rt = rt
        self.stream = stream
        self.kinesis = kinesis
        self.s3 = s3
        self.start = start  # where a shard without a checkpoint begins: TRIM_HORIZON (all retained) or LATEST
        self.limit = limit
        self.idle_seconds = idle_seconds
        self.stats = ConsumerStats()
        self._shards: dict[str, _Shard] = {}
        self._listed_at = 0.0

    def run(self, stop: threading.Event) -> None:
        log.info("kinesis.consumer_started", extra={"stream": self.stream})
        while not stop.is_set():
            try:
                read = self.poll()
            except Exception as exc:  # ListShards or the database unavailable: wait, then carry on
                log.warning("kinesis.poll_failed", extra={"stream": self.stream, "error": _describe(exc)})
                read = 0
            if read == 0:
                stop.wait(self.idle_seconds)

    def poll(self) -> int:
        """One GetRecords per open shard; returns the number of records read."""
        self._refresh_shards()
        read = 0
        for shard in list(self._shards.values()):
            if not shard.closed:
                read += self._poll_shard(shard)
        return read

    def _refresh_shards(self) -> None:
        if self._shards and time.monotonic() - self._listed_at < SHARD_REFRESH_SECONDS:
            return
        self._listed_at = time.monotonic()
        token = None
        while True:
            page = (self.kinesis.list_shards(NextToken=token) if token
                    else self.kinesis.list_shards(StreamName=self.stream))
            for sh in page.get("Shards", []):
                self._shards.setdefault(sh["ShardId"], _Shard(sh["ShardId"]))
            token = page.get("NextToken")
            if not token:
                return

    def _iterator(self, shard: _Shard) -> str:
        checkpoint = load_checkpoint(self.rt, self.stream, shard.shard_id)
        args: dict[str, Any] = {"StreamName": self.stream, "ShardId": shard.shard_id}
        if checkpoint:
            args |= {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "StartingSequenceNumber": checkpoint}
        else:
            args["ShardIteratorType"] = self.start
        return self.kinesis.get_shard_iterator(**args)["ShardIterator"]

    def _poll_shard(self, shard: _Shard) -> int:
        try:
            if shard.iterator is None:
                shard.iterator = self._iterator(shard)
            self.stats.get_records_calls += 1
            out = self.kinesis.get_records(ShardIterator=shard.iterator, Limit=self.limit)
        except Exception as exc:  # expired iterator, throttling, network: start again from the checkpoint
            log.warning("kinesis.get_records_failed", extra={"shard": shard.shard_id, "error": _code(exc)})
            shard.iterator = None
            return 0
        records = out.get("Records", [])
        for record in records:
            try:
                self.handle(shard.shard_id, record)
            except Exception as exc:
                if self._give_up(shard, record, exc):
                    continue
                shard.iterator = None  # re-read this record from the checkpoint after the idle pause
                return 0
        shard.iterator = out.get("NextShardIterator")
        shard.closed = shard.iterator is None  # a closed (resharded) shard is done once read to its end
        return len(records)

    def _give_up(self, shard: _Shard, record: dict[str, Any], exc: Exception) -> bool:
        seq = record["SequenceNumber"]
        shard.attempts[seq] = shard.attempts.get(seq, 0) + 1
        log.warning("kinesis.record_failed", extra={"shard": shard.shard_id, "sequence": seq,
                                                    "attempt": shard.attempts[seq], "error": _describe(exc)})
        if shard.attempts[seq] < MAX_RECORD_ATTEMPTS:
            return False
        self._skip(shard.shard_id, seq, f"gave up after {MAX_RECORD_ATTEMPTS} attempts: {_describe(exc)}")
        shard.attempts.pop(seq, None)
        return True

    def handle(self, shard_id: str, record: dict[str, Any]) -> None:
        """Ingest one record; permanent problems skip it (checkpointed), transient ones raise."""
        seq = record["SequenceNumber"]
        self.stats.records += 1
        try:
            items = parse_record(record["Data"])
        except MalformedRecordError as exc:
            self._skip(shard_id, seq, exc.message)
            return
        if not items:
            self._checkpoint(shard_id, seq)
            return
        for i, item in enumerate(items):
            base = f"kinesis:{self.stream}/{shard_id}/{seq}" + (f"#{i}" if len(items) > 1 else "")
            claim = Claim(item.dedupe_key or base, self.stream, shard_id, seq)
            try:
                result = self._ingest(item, claim)
            except InputError as exc:  # bad input never gets better: skip it, keep the shard moving
                self._skip(shard_id, seq, f"{exc.code}: {exc.message}")
                continue
            if result is None:
                self.stats.replayed += 1
                self._checkpoint(shard_id, seq)
            elif result.duplicate:
                self.stats.duplicates += 1
            else:
                self.stats.created += 1

    def _ingest(self, item: Item, claim: Claim) -> IngestResult | None:
        req = IngestRequest(source_kind=item.kind, title=item.title, description=item.description,
                            tags=list(item.tags), profile=item.profile, priority=item.priority, actor=ACTOR)
        if item.kind == "url":
            return ingest_url_claimed(self.rt, item.ref, req, claim)
        bucket = item.bucket or self.rt.settings.cloud.s3_bucket
        if not bucket:
            raise MalformedRecordError("s3_key given without a bucket, and VIDPIPE_S3_BUCKET is not set")
        if self.s3 is None:
            from vidpipe.cloud.clients import aws_client

            self.s3 = aws_client(self.rt.settings, "s3")
        return ingest_s3(self.rt, bucket, item.ref, req, client=self.s3, claim=claim)

    def _checkpoint(self, shard_id: str, seq: str) -> None:
        with self.rt.db.session() as s, s.begin():
            save_checkpoint(s, self.stream, shard_id, seq)

    def _skip(self, shard_id: str, seq: str, reason: str) -> None:
        self.stats.skipped += 1
        log.warning("ingest.record_skipped", extra={"stream": self.stream, "shard": shard_id, "sequence": seq,
                                                    "reason": reason})
        with self.rt.db.session() as s, s.begin():
            events.record(s, "ingest.record_skipped", actor=ACTOR, stream=self.stream, shard=shard_id, sequence=seq,
                          reason=reason)
            save_checkpoint(s, self.stream, shard_id, seq)


def _code(exc: Exception) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", "")) or type(exc).__name__


def _describe(exc: Exception) -> str:
    return f"{exc.code}: {exc.message}" if isinstance(exc, VidpipeError) else _code(exc)
