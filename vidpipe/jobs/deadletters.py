"""Dead-lettered jobs, told to the SQS dead-letter queue (its alarm pages someone) and redriven from it.

The database is the system of record: a job is `dead` once that commits. The SQS message is a best-effort
notification sent afterwards; failing to send it logs a warning and changes nothing.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from vidpipe.cloud.deadletter_queue import (  # noqa: F401 - the sinks, re-exported for callers
    MESSAGE_TYPE,
    DeadLetter,
    DeadLetterSink,
    SqsDeadLetterSink,
    sinks_from_settings,
)
from vidpipe.states import AssetStatus, JobStatus

log = logging.getLogger(__name__)

def publish(sinks: list[DeadLetterSink], job: Any, error_code: str, reason: str) -> None:
    """Tell every sink about a job that just went dead (call after the transaction committed); never raises."""
    if not sinks:
        return
    letter = DeadLetter(job_id=job.id, asset_id=str(job.asset_id) if job.asset_id else None, stage=job.stage,
                        attempts=job.attempt, error_code=error_code, reason=reason[:4000],
                        at=datetime.now(UTC).isoformat())
    for sink in sinks:
        try:
            sink.send(letter)
        except Exception as exc:  # the job is dead in the database either way; the queue is only the alarm
            code = str(getattr(exc, "response", {}).get("Error", {}).get("Code", "")) or type(exc).__name__
            log.warning("job.dead_letter_failed", extra={"job": job.id, "stage": job.stage, "error": code})
        else:
            log.info("job.dead_lettered", extra={"job": job.id, "stage": job.stage, "asset": letter.asset_id})


@dataclass
class RedriveResult:
    retried: list[int]
    not_retried: dict[int, str]
    messages_deleted: int


def redrive(rt: Any, *, client: Any | None = None, actor: str = "cli") -> RedriveResult:
    """Queue every dead job again, then delete the dead-letter messages of the jobs that were requeued."""
    from sqlalchemy import select

    from vidpipe.db import assets
    from vidpipe.db.models import Job
    from vidpipe.errors import VidpipeError
    from vidpipe.jobs import queue as jobs

    result = RedriveResult([], {}, 0)
    with rt.db.session() as s:
        dead = list(s.scalars(select(Job.id).where(Job.status == JobStatus.DEAD).order_by(Job.id)))
    for job_id in dead:
        try:
            with rt.db.session() as s, s.begin():
                job = jobs.retry(s, job_id, actor=actor)
                if job.asset_id:
                    asset = assets.get_asset(s, job.asset_id, lock=True)
                    assets.set_status(s, asset, AssetStatus.PROCESSING, actor=actor)
            result.retried.append(job_id)
        except VidpipeError as exc:
            result.not_retried[job_id] = exc.message
    if rt.settings.cloud.dlq_url:
        if client is None:
            from vidpipe.cloud.clients import aws_client, region_of_queue_url

            client = aws_client(rt.settings, "sqs", region=region_of_queue_url(rt.settings.cloud.dlq_url), pool=2)
        result.messages_deleted = drain(client, rt.settings.cloud.dlq_url, lambda ids: _not_dead(rt, ids))
    return result


def _not_dead(rt: Any, job_ids: set[int]) -> set[int]:
    """Those of `job_ids` no longer dead (just redriven, retried by hand, or gone): their messages are stale."""
    from sqlalchemy import select

    from vidpipe.db.models import Job

    with rt.db.session() as s:
        still_dead = set(s.scalars(select(Job.id).where(Job.id.in_(job_ids), Job.status == JobStatus.DEAD)))
    return job_ids - still_dead


def drain(client: Any, queue_url: str, stale: Callable[[set[int]], set[int]], *, empty_polls: int = 2) -> int:
    """Delete the messages whose jobs `stale` picks; the others become visible again at once. Returns the count."""
    deleted, empties = 0, 0
    while empties < empty_polls:
        out = client.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                     VisibilityTimeout=30)
        messages = out.get("Messages", [])
        if not messages:
            empties += 1
            continue
        empties = 0
        ids = {job_id for msg in messages if (job_id := _job_id(msg)) is not None}
        doomed = stale(ids) if ids else set()
        keep = []
        for msg in messages:
            if _job_id(msg) in doomed:
                client.delete_message(QueueUrl=queue_url, ReceiptHandle=msg["ReceiptHandle"])
                deleted += 1
            else:
                keep.append(msg)
        for msg in keep:
            client.change_message_visibility(QueueUrl=queue_url, ReceiptHandle=msg["ReceiptHandle"],
                                             VisibilityTimeout=0)
        if len(keep) == len(messages):
            empties += 1  # only messages we leave alone came back
    return deleted


def _job_id(msg: dict[str, Any]) -> int | None:
    try:
        return int(json.loads(msg["Body"])["job_id"])
    except (ValueError, KeyError, TypeError):
        return None
