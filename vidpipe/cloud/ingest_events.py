"""What arrives on the ingest stream, parsed (pure: bytes in, items out): vidpipe's own ingest events, S3
object-created notifications (the `{"Records": [...]}` form) and their EventBridge form."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import partial
from typing import Any
from urllib.parse import unquote_plus

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from vidpipe.errors import InputError


class MalformedRecordError(InputError):
    code = "malformed_record"


class IngestEvent(BaseModel):
    """`{"s3_key" | "url", "bucket"?, "title"?, "tags"?, "profile"?, "event_id"?, "description"?, "priority"?}`"""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    s3_key: str | None = None
    bucket: str | None = None
    url: str | None = None
    title: str | None = None
    description: str = ""
    tags: list[str] = Field(default_factory=list)
    profile: str | None = None
    priority: int = 0
    event_id: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> IngestEvent:
        if bool(self.s3_key) == bool(self.url):
            raise ValueError("exactly one of s3_key and url is required")
        return self


@dataclass(frozen=True)
class Item:
    """One thing to ingest out of a record (an S3 notification may carry several)."""

    kind: str  # s3 | url
    ref: str  # the object key or the URL
    bucket: str | None = None
    title: str | None = None
    description: str = ""
    tags: tuple[str, ...] = ()
    profile: str | None = None
    priority: int = 0
    dedupe_key: str | None = None  # independent of where the record sits in the stream


def parse_record(data: bytes) -> list[Item]:
    """The items of one record, or MalformedRecordError with the reason. Empty: nothing to ingest (a deletion)."""
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedRecordError(f"not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise MalformedRecordError("not a JSON object")
    if isinstance(doc.get("Records"), list):
        return _s3_notification(doc["Records"])
    if doc.get("source") == "aws.s3" and isinstance(doc.get("detail"), dict):
        return _eventbridge_s3(doc)
    try:
        ev = IngestEvent.model_validate(doc)
    except ValidationError as exc:
        reasons = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'event'}: {e['msg']}" for e in exc.errors())
        raise MalformedRecordError(f"not an ingest event ({reasons})") from None
    dedupe = f"event:{ev.event_id}" if ev.event_id else None
    item = partial(Item, title=ev.title, description=ev.description, tags=tuple(ev.tags), profile=ev.profile,
                   priority=ev.priority, dedupe_key=dedupe)
    if ev.s3_key:
        return [item("s3", ev.s3_key, bucket=ev.bucket)]
    return [item("url", ev.url or "")]


def _s3_notification(records: list[Any]) -> list[Item]:
    items = []
    for rec in records:
        try:
            if rec.get("eventSource") != "aws:s3":
                raise MalformedRecordError(f"not an S3 notification record: {rec.get('eventSource')!r}")
            if not str(rec.get("eventName", "")).startswith("ObjectCreated:"):
                continue  # deletions and the like: nothing to ingest
            bucket = rec["s3"]["bucket"]["name"]
            key = unquote_plus(rec["s3"]["object"]["key"])  # notifications URL-encode keys ('+' for spaces)
            sequencer = rec["s3"]["object"].get("sequencer")
        except (AttributeError, KeyError, TypeError):
            raise MalformedRecordError("S3 notification record lacks s3.bucket.name or s3.object.key") from None
        items.append(Item("s3", key, bucket=bucket, dedupe_key=f"s3:{bucket}/{key}@{sequencer}" if sequencer else None))
    return items


def _eventbridge_s3(doc: dict[str, Any]) -> list[Item]:
    if doc.get("detail-type") != "Object Created":
        return []
    try:
        bucket = doc["detail"]["bucket"]["name"]
        key = doc["detail"]["object"]["key"]  # EventBridge does not URL-encode keys
        sequencer = doc["detail"]["object"].get("sequencer")
    except (KeyError, TypeError):
        raise MalformedRecordError("S3 EventBridge event lacks detail.bucket.name or detail.object.key") from None
    return [Item("s3", key, bucket=bucket, dedupe_key=f"s3:{bucket}/{key}@{sequencer}" if sequencer else None)]
