"""Kinesis ingest against the emulator's Kinesis and S3: assets exactly once, a durable checkpoint per shard,
malformed records skipped, S3 object-created notifications accepted."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
from sqlalchemy import func, select, text

from tests.aws_emulator import Emulator, aws_emulator_fixture, s3_bucket_fixture  # noqa: F401 - fixtures
from vidpipe.db.models import Asset, Event, Job
from vidpipe.db.models.cloud import IngestRecord
from vidpipe.ingest.kinesis import KinesisConsumer, load_checkpoint


@pytest.fixture
def stream(aws_emulator: Emulator) -> str:
    name = aws_emulator.unique("ingest")
    client = aws_emulator.client("kinesis")
    client.create_stream(StreamName=name, ShardCount=1)
    client.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 50})
    return name


@pytest.fixture
def cloud_runtime(runtime, aws_emulator: Emulator, s3_bucket: str):
    with runtime.db.session() as s, s.begin():
        s.execute(text("TRUNCATE kinesis_checkpoints, ingest_records"))
    runtime.settings = runtime.settings.updated(**{
        "aws_region": aws_emulator.region, "aws_endpoint_url": aws_emulator.endpoint_url, "s3_bucket": s3_bucket})
    return runtime


def _put(emulator: Emulator, stream: str, *records: Any) -> list[str]:
    client = emulator.client("kinesis")
    seqs = []
    for rec in records:
        data = rec if isinstance(rec, bytes) else json.dumps(rec).encode()
        seqs.append(client.put_record(StreamName=stream, Data=data, PartitionKey="p")["SequenceNumber"])
    return seqs


def _consumer(rt, emulator: Emulator, stream: str, **kwargs) -> KinesisConsumer:
    return KinesisConsumer(rt, stream, kinesis=emulator.client("kinesis"), s3=emulator.client("s3"), **kwargs)


def _drain(consumer: KinesisConsumer, expected_records: int, polls: int = 10) -> None:
    for _ in range(polls):
        consumer.poll()
        if consumer.stats.records >= expected_records:
            return
    raise AssertionError(f"read {consumer.stats.records} of {expected_records} records")


def _upload(emulator: Emulator, bucket: str, key: str) -> bytes:
    data = os.urandom(2048)
    emulator.client("s3").put_object(Bucket=bucket, Key=key, Body=data, ContentType="video/mp4")
    return data


def _count(rt, model) -> int:
    with rt.db.session() as s:
        return s.scalar(select(func.count()).select_from(model))


def test_events_create_assets_once_and_resume_at_the_checkpoint(cloud_runtime, aws_emulator, s3_bucket, stream):
    rt = cloud_runtime
    for name in ("a", "b", "c", "d"):
        _upload(aws_emulator, s3_bucket, f"uploads/{name}.mp4")
    first = {"s3_key": "uploads/a.mp4", "title": "Clip A", "tags": ["news"], "profile": "preview", "event_id": "e-1"}
    seqs = _put(aws_emulator, stream, first, {"s3_key": "uploads/b.mp4", "bucket": s3_bucket})

    consumer = _consumer(rt, aws_emulator, stream)
    _drain(consumer, 2)
    assert (consumer.stats.created, consumer.stats.skipped) == (2, 0)
    with rt.db.session() as s:
        a = s.scalar(select(Asset).where(Asset.title == "Clip A"))
        assert (a.source_kind, a.source_ref, a.tags, a.profile) == ("s3", f"s3://{s3_bucket}/uploads/a.mp4",
                                                                    ["news"], "preview")
        assert a.original_name == "a.mp4" and a.content_type == "video/mp4"
        assert s.scalar(select(func.count()).select_from(Job).where(Job.stage == "probe")) == 2
    assert load_checkpoint(rt, stream, "shardId-000000000000") == seqs[-1]

    # The same event again (a producer retry: new sequence number, same event_id): nothing new.
    _put(aws_emulator, stream, first)
    _drain(consumer, 3)
    assert consumer.stats.replayed == 1 and _count(rt, Asset) == 2

    # The checkpoint lost: everything is read again from the start of the stream, and nothing is duplicated.
    with rt.db.session() as s, s.begin():
        s.execute(text("TRUNCATE kinesis_checkpoints"))
    again = _consumer(rt, aws_emulator, stream)
    _drain(again, 3)
    assert (again.stats.created, again.stats.replayed, again.stats.duplicates) == (0, 3, 0)
    assert _count(rt, Asset) == 2 and _count(rt, IngestRecord) == 2

    # Two new records; a consumer reads one (one record per GetRecords) and is killed without any shutdown.
    new = _put(aws_emulator, stream, {"s3_key": "uploads/c.mp4"}, {"s3_key": "uploads/d.mp4"})
    killed = _consumer(rt, aws_emulator, stream, limit=1)
    _drain(killed, 1)
    assert killed.stats.created == 1 and load_checkpoint(rt, stream, "shardId-000000000000") == new[0]
    del killed

    # The restarted consumer asks for the records AFTER its checkpoint and reads only the one left.
    restarted = _consumer(rt, aws_emulator, stream)
    asked: list[dict[str, Any]] = []
    restarted.kinesis.meta.events.register("provide-client-params.kinesis.GetShardIterator",
                                           lambda params, **_: asked.append(dict(params)))
    _drain(restarted, 1)
    restarted.poll()  # nothing more arrives
    assert asked[0]["ShardIteratorType"] == "AFTER_SEQUENCE_NUMBER" and asked[0]["StartingSequenceNumber"] == new[0]
    assert (restarted.stats.records, restarted.stats.created) == (1, 1)
    assert _count(rt, Asset) == 4


def test_malformed_and_unusable_records_are_skipped_without_stalling(cloud_runtime, aws_emulator, s3_bucket, stream,
                                                                     caplog):
    rt = cloud_runtime
    _upload(aws_emulator, s3_bucket, "uploads/good.mp4")
    seqs = _put(aws_emulator, stream,
                b"\x00not json", ["a", "list"], {"title": "no source"},
                {"s3_key": "uploads/good.mp4", "url": "https://example.com/x.mp4"},
                {"s3_key": "uploads/missing.mp4"}, {"s3_key": "uploads/good.mp4", "profile": "no-such-profile"},
                {"s3_key": "uploads/good.mp4", "title": "Good"})
    consumer = _consumer(rt, aws_emulator, stream)
    _drain(consumer, len(seqs))
    assert (consumer.stats.skipped, consumer.stats.created) == (6, 1)
    with rt.db.session() as s:
        assert s.scalar(select(Asset.title)) == "Good"
        reasons = [e.detail["reason"] for e in s.scalars(select(Event).where(Event.event == "ingest.record_skipped")
                                                         .order_by(Event.id))]
    assert reasons[0].startswith("not JSON") and reasons[1] == "not a JSON object"
    assert "exactly one of s3_key and url" in reasons[2] and "exactly one of s3_key and url" in reasons[3]
    assert "NoSuchKey" in reasons[4] and "unknown_profile" in reasons[5]
    assert load_checkpoint(rt, stream, "shardId-000000000000") == seqs[-1]
    assert sum(r.getMessage() == "ingest.record_skipped" for r in caplog.records) == 6


def test_s3_object_created_notifications(cloud_runtime, aws_emulator, s3_bucket, stream):
    rt = cloud_runtime
    _upload(aws_emulator, s3_bucket, "drop/my clip.mp4")
    _upload(aws_emulator, s3_bucket, "drop/second.mov")
    notification = {"Records": [
        {"eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
         "s3": {"bucket": {"name": s3_bucket}, "object": {"key": "drop/my+clip.mp4", "sequencer": "0A1"}}},
        {"eventSource": "aws:s3", "eventName": "ObjectRemoved:Delete",
         "s3": {"bucket": {"name": s3_bucket}, "object": {"key": "drop/old.mp4", "sequencer": "0A2"}}},
    ]}
    eventbridge = {"source": "aws.s3", "detail-type": "Object Created",
                   "detail": {"bucket": {"name": s3_bucket}, "object": {"key": "drop/second.mov", "sequencer": "0B"}}}
    _put(aws_emulator, stream, notification, eventbridge, notification)  # S3 delivers at least once
    consumer = _consumer(rt, aws_emulator, stream)
    _drain(consumer, 3)
    assert (consumer.stats.created, consumer.stats.replayed) == (2, 1)
    with rt.db.session() as s:
        refs = sorted(s.scalars(select(Asset.source_ref)))
        keys = sorted(s.scalars(select(IngestRecord.record_key)))
    assert refs == [f"s3://{s3_bucket}/drop/my clip.mp4", f"s3://{s3_bucket}/drop/second.mov"]
    assert keys == [f"s3:{s3_bucket}/drop/my clip.mp4@0A1", f"s3:{s3_bucket}/drop/second.mov@0B"]


def test_consume_kinesis_command(cloud_runtime, aws_emulator, s3_bucket, stream, monkeypatch):
    """The CLI entry point, configured the way the stack configures a task (environment only)."""
    from typer.testing import CliRunner

    import vidpipe.cli.main as cli

    rt = cloud_runtime
    _upload(aws_emulator, s3_bucket, "uploads/cli.mp4")
    _put(aws_emulator, stream, {"s3_key": "uploads/cli.mp4", "title": "From the CLI"}, b"{broken")
    st = rt.settings
    env = {"VIDPIPE_DATABASE_URL": st.database_url.get_secret_value(), "VIDPIPE_DATA_DIR": str(st.data_dir),
           "VIDPIPE_MEDIA_DIR": str(st.media_root), "VIDPIPE_SCRATCH_DIR": str(st.scratch_root),
           "VIDPIPE_AWS_REGION": aws_emulator.region, "VIDPIPE_AWS_ENDPOINT_URL": aws_emulator.endpoint_url,
           "VIDPIPE_KINESIS_STREAM": stream, "VIDPIPE_S3_BUCKET": s3_bucket, "VIDPIPE_METRICS_EMF": "false"}
    import vidpipe.cli.common as cli_common

    monkeypatch.setattr(cli_common, "setup_logging", lambda *a, **k: None)  # keep pytest's log capture in place
    result = CliRunner().invoke(cli.app, ["consume-kinesis", "--once"], env=env)
    assert result.exit_code == 0, result.output
    assert "records 2: 1 created, 0 duplicate bytes, 0 replayed, 1 skipped" in result.output
    with rt.db.session() as s:
        assert s.scalar(select(Asset.title)) == "From the CLI"
    again = CliRunner().invoke(cli.app, ["consume-kinesis", "--once"], env=env)
    assert again.exit_code == 0 and "records 0" in again.output
