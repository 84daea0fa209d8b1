"""The cloud glue against the emulator: dead letters on SQS and their redrive, secrets and API keys from Secrets
Manager, EMF lines, BacklogPerTask on CloudWatch, and /metrics after a job."""

from __future__ import annotations

import asyncio
import json
import logging
import time

import httpx
from sqlalchemy import select

from tests.aws_emulator import Emulator, aws_emulator_fixture  # noqa: F401 - fixtures
from vidpipe.cloud.secrets import read_secret
from vidpipe.cloud.startup import prepare_settings
from vidpipe.db import apikeys
from vidpipe.db.apikeys import import_key
from vidpipe.db.models import Job
from vidpipe.errors import TransientError
from vidpipe.ingest.service import IngestRequest, ingest_stream
from vidpipe.jobs import metrics
from vidpipe.jobs import queue as jobs
from vidpipe.jobs.deadletters import redrive
from vidpipe.jobs.runner import JobRun, StageRunner
from vidpipe.jobs.worker import Worker
from vidpipe.runtime import Runtime
from vidpipe.server import create_app
from vidpipe.settings import Settings

EMF_UNITS = {"Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes", "Terabytes",
             "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count", "Bytes/Second",
             "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second", "Terabytes/Second", "Bits/Second",
             "Kilobits/Second", "Megabits/Second", "Gigabits/Second", "Terabits/Second", "Count/Second", "None"}


def assert_valid_emf(doc: dict) -> None:
    """The EMF specification's structural rules (CloudWatch drops a line that breaks any of them)."""
    meta = doc["_aws"]
    assert isinstance(meta["Timestamp"], int) and abs(meta["Timestamp"] / 1000 - time.time()) < 3600
    assert isinstance(meta["CloudWatchMetrics"], list) and meta["CloudWatchMetrics"]
    for directive in meta["CloudWatchMetrics"]:
        assert isinstance(directive["Namespace"], str) and 0 < len(directive["Namespace"]) <= 255
        for dimension_set in directive["Dimensions"]:
            assert 0 < len(dimension_set) <= 30
            for name in dimension_set:
                assert isinstance(doc[name], str), f"dimension {name} needs a string value at the top level"
        assert 0 < len(directive["Metrics"]) <= 100
        for metric in directive["Metrics"]:
            assert set(metric) <= {"Name", "Unit", "StorageResolution"} and metric["Unit"] in EMF_UNITS
            assert isinstance(doc[metric["Name"]], int | float), f"metric {metric['Name']} needs a number"


def _emf_lines(text: str) -> list[dict]:
    docs = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    return [d for d in docs if "_aws" in d]


def _cloud_runtime(settings: Settings, emulator: Emulator, **update) -> Runtime:
    cloud = settings.updated(**{"aws_region": emulator.region, "aws_endpoint_url": emulator.endpoint_url,
                                        "job_max_attempts": 1, **update})
    return Runtime.from_settings(cloud, pool_size=4)


def _get(app, url: str) -> httpx.Response:
    async def go() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api.test") as client:
            return await client.get(url)

    return asyncio.run(go())


def _wait_for(predicate, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _status(rt: Runtime, job_id: int) -> str:
    with rt.db.session() as s:
        return s.scalar(select(Job.status).where(Job.id == job_id))


def test_dead_job_goes_to_sqs_counts_in_metrics_and_redrives(settings, aws_emulator, monkeypatch, capsys):
    sqs = aws_emulator.client("sqs")
    queue_url = sqs.create_queue(QueueName=aws_emulator.unique("dlq"))["QueueUrl"]
    rt = _cloud_runtime(settings, aws_emulator, dlq_url=queue_url, metrics_emf=True, metrics_environment="test")
    try:
        asset = ingest_stream(rt, IngestRequest("upload", original_name="clip.mp4"), [b"not really media"]).asset
        with rt.db.session() as s:
            job_id = s.scalar(select(Job.id).where(Job.asset_id == asset.id))

        def flaky(key, scratch):
            # Spends attempts (a storage outage would not: it is waited out, see test_reliability.py).
            raise TransientError("connection reset by peer")

        monkeypatch.setattr(rt.media_store, "local_copy", flaky)
        before = metrics.JOB_OUTCOMES.labels("probe", "dead")._value.get()
        worker = Worker(rt, concurrency=1)
        worker.start()
        try:
            _wait_for(lambda: _status(rt, job_id) == "dead")
            _wait_for(lambda: metrics.JOB_OUTCOMES.labels("probe", "dead")._value.get() == before + 1)
        finally:
            worker.request_stop()
            worker.join(timeout=10)

        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                       VisibilityTimeout=0)["Messages"]
        assert len(messages) == 1
        body = json.loads(messages[0]["Body"])
        assert body["type"] == "vidpipe.job.dead" and body["job_id"] == job_id and body["asset_id"] == str(asset.id)
        assert (body["stage"], body["attempts"], body["error_code"]) == ("probe", 1, "transient")
        assert body["reason"] == "connection reset by peer"

        # EMF: a stage-completion line from the worker, and queue-depth lines from its reporter.
        docs = _emf_lines(capsys.readouterr().out)
        finished = [d for d in docs if d.get("Outcome") == "dead"]
        assert finished and finished[0]["Stage"] == "probe" and finished[0]["JobsFinished"] == 1
        assert any("QueueDepth" in d for d in docs)
        for doc in docs:
            assert_valid_emf(doc)

        # /metrics: this process's counters plus the queue as the database sees it; no API key needed.
        response = _get(create_app(rt), "/metrics")
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
        text = response.text
        assert 'vidpipe_jobs_finished_total{outcome="dead",stage="probe"}' in text
        assert 'vidpipe_stage_duration_seconds_count{outcome="dead",stage="probe"}' in text
        assert 'vidpipe_jobs{stage="probe",status="dead"} 1.0' in text
        assert 'vidpipe_queue_depth{stage="probe"} 0.0' in text

        result = redrive(rt)
        assert result.retried == [job_id] and result.messages_deleted == 1
        assert _status(rt, job_id) == "queued"
        assert sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=0).get("Messages", []) == []
        assert 'vidpipe_queue_depth{stage="probe"} 1.0' in _get(create_app(rt), "/metrics").text
    finally:
        rt.close()


def test_a_failing_dead_letter_queue_only_warns(settings, aws_emulator, monkeypatch, caplog):
    missing = f"{aws_emulator.endpoint_url}/123456789012/{aws_emulator.unique('nope')}"
    rt = _cloud_runtime(settings, aws_emulator, dlq_url=missing)
    try:
        ingest_stream(rt, IngestRequest("upload", original_name="x.mp4"), [b"bytes"])
        monkeypatch.setattr(rt.media_store, "local_copy",
                            lambda key, scratch: (_ for _ in ()).throw(TransientError("down")))
        with rt.db.session() as s, s.begin():
            job = jobs.claim(s, "w1", 30)
        assert StageRunner(rt, "w1").run(JobRun(job)) == "dead"
        assert _status(rt, job.id) == "dead"
        assert any(r.getMessage() == "job.dead_letter_failed" and r.levelno == logging.WARNING for r in caplog.records)
    finally:
        rt.close()


def test_secrets_and_api_keys_from_secrets_manager(settings, aws_emulator, caplog, monkeypatch):
    sm = aws_emulator.client("secretsmanager")
    db = {"username": "vidpipe", "password": "p@ss/w0rd:42", "host": "db.internal", "port": 5432, "dbname": "media"}
    db_arn = sm.create_secret(Name=aws_emulator.unique("rds"), SecretString=json.dumps(db))["ARN"]
    redis_arn = sm.create_secret(Name=aws_emulator.unique("redis"), SecretString="RedisAuthToken0123456789")["ARN"]
    key_arn = sm.create_secret(Name=aws_emulator.unique("api-key"), SecretString="K" * 40)["ARN"]
    caplog.set_level(logging.DEBUG)

    raw = Settings(data_dir=settings.data_dir, db_secret=db_arn, redis_endpoint="cache.internal:6379",
                   redis_auth_secret=redis_arn, aws_region=aws_emulator.region,
                   aws_endpoint_url=aws_emulator.endpoint_url)
    resolved = prepare_settings(raw, environ={})
    assert resolved.database_url.get_secret_value() == (
        "postgresql+psycopg://vidpipe:p%40ss%2Fw0rd%3A42@db.internal:5432/media?sslmode=require")
    assert resolved.redis_url.get_secret_value() == "rediss://:RedisAuthToken0123456789@cache.internal:6379/0"
    assert resolved.cloud.metrics_emf is False
    assert prepare_settings(raw, environ={"AWS_EXECUTION_ENV": "AWS_ECS_FARGATE"}).cloud.metrics_emf is True
    shown = repr(resolved) + str(resolved.model_dump()) + caplog.text
    assert "p@ss/w0rd:42" not in shown and "p%40ss" not in shown and "RedisAuthToken" not in shown

    # The CLI's entry point does the same from the environment the stack injects.
    import vidpipe.cli.common as cli

    for name, value in {"VIDPIPE_DB_SECRET": db_arn, "VIDPIPE_AWS_REGION": aws_emulator.region,
                        "VIDPIPE_AWS_ENDPOINT_URL": aws_emulator.endpoint_url, "VIDPIPE_METRICS_EMF": "false",
                        "VIDPIPE_DATA_DIR": str(settings.data_dir)}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(cli, "setup_logging", lambda *a, **k: None)
    assert "db.internal:5432/media" in cli.load_settings().database_url.get_secret_value()

    # API-key material: the gateway's key, accepted by vidpipe as a hash; idempotent; rotation replaces it.
    rt = Runtime.from_settings(settings, pool_size=2)
    try:
        secret = read_secret(resolved, key_arn)
        with rt.db.session() as s, s.begin():
            assert import_key(s, "gateway", secret) == "created"
        with rt.db.session() as s, s.begin():
            assert import_key(s, "gateway", secret) == "unchanged"
            assert apikeys.verify_key(s, "K" * 40) == "gateway"
        with rt.db.session() as s, s.begin():
            assert import_key(s, "gateway", "R" * 40) == "rotated"
            assert apikeys.verify_key(s, "R" * 40) == "gateway"
    finally:
        rt.close()
    assert "K" * 40 not in caplog.text


def test_queue_report_emits_emf_and_publishes_backlog(settings, aws_emulator, capsys):
    cloudwatch = aws_emulator.client("cloudwatch")
    env = aws_emulator.unique("env")
    rt = _cloud_runtime(settings, aws_emulator, metrics_emf=True, metrics_environment=env)
    try:
        for i in range(3):
            ingest_stream(rt, IngestRequest("upload", original_name=f"{i}.mp4"), [f"bytes {i}".encode()])
        depth = metrics.report_queue(rt, cloudwatch=cloudwatch)
    finally:
        rt.close()
    assert depth["probe"] == 3
    docs = _emf_lines(capsys.readouterr().out)
    probe = [d for d in docs if d.get("Stage") == "probe"]
    assert len(probe) == 1 and probe[0]["QueueDepth"] == 3 and probe[0]["Environment"] == env
    for doc in docs:
        assert_valid_emf(doc)
    listed = cloudwatch.list_metrics(Namespace="Vidpipe", MetricName="BacklogPerTask",
                                     Dimensions=[{"Name": "Environment", "Value": env}])["Metrics"]
    assert len(listed) == 1
