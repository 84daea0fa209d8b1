"""The SQS dead-letter queue as a sink: one message per dead job (its alarm pages someone)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from vidpipe.settings import Settings

MESSAGE_TYPE = "vidpipe.job.dead"


@dataclass(frozen=True)
class DeadLetter:
    job_id: int
    asset_id: str | None
    stage: str
    attempts: int
    error_code: str
    reason: str
    at: str

    def body(self) -> str:
        return json.dumps({"type": MESSAGE_TYPE, **asdict(self)}, sort_keys=True)


class DeadLetterSink(Protocol):
    def send(self, letter: DeadLetter) -> None: ...


class SqsDeadLetterSink:
    """Sends one message per dead job to an SQS queue (encrypted at rest by the stack's key)."""

    def __init__(self, queue_url: str, client: Any) -> None:
        self.queue_url = queue_url
        self.client = client

    def send(self, letter: DeadLetter) -> None:
        self.client.send_message(QueueUrl=self.queue_url, MessageBody=letter.body(),
                                 MessageAttributes={"type": {"DataType": "String", "StringValue": MESSAGE_TYPE},
                                                    "stage": {"DataType": "String", "StringValue": letter.stage}})


def sinks_from_settings(settings: Settings) -> list[DeadLetterSink]:
    """The configured sinks: the SQS queue when `dlq_url` is set, else none."""
    if not settings.cloud.dlq_url:
        return []
    from vidpipe.cloud.clients import aws_client, region_of_queue_url

    client = aws_client(settings, "sqs", region=region_of_queue_url(settings.cloud.dlq_url), pool=4)
    return [SqsDeadLetterSink(settings.cloud.dlq_url, client)]
