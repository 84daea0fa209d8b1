"""Ingestion and failure handling: the Kinesis ingest-event stream and the jobs dead-letter queue."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from .compliance import acknowledge


class Messaging(Construct):
    """Jobs themselves are queued in PostgreSQL by the app; this unit carries events in and failures out."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        suffix: str,
        key: kms.IKey,
        stream_retention_hours: int,
    ) -> None:
        super().__init__(scope, construct_id)
        self.stream = kinesis.Stream(
            self,
            "IngestEvents",
            stream_name=f"ingest-events-{suffix}",
            stream_mode=kinesis.StreamMode.PROVISIONED,
            shard_count=2,
            encryption=kinesis.StreamEncryption.KMS,
            encryption_key=key,
            retention_period=Duration.hours(stream_retention_hours),
            removal_policy=RemovalPolicy.DESTROY,
        )
        acknowledge(
            self.stream,
            "AwsSolutions-KDS3",
            "The platform CMK is deliberate (one auditable, revocable key for all data at rest); its per-request "
            "cost is small at 2 shards and a handful of producers and consumers.",
        )
        self.dead_letters = sqs.Queue(
            self,
            "JobsDlq",
            queue_name=f"jobs-dlq-{suffix}",
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=key,
            data_key_reuse=Duration.hours(1),
            enforce_ssl=True,
            retention_period=Duration.days(14),
            removal_policy=RemovalPolicy.DESTROY,
        )
        acknowledge(
            self.dead_letters,
            "AwsSolutions-SQS3",
            "This queue IS the dead-letter queue: the worker sends jobs that exhausted their retries here "
            "(the job queue itself is in PostgreSQL), so it has no dead-letter queue of its own.",
        )
