"""Task-role permissions, written out action by action rather than with CDK's broad `grant_*` helpers.

CDK's helpers grant families (`s3:GetObject*`, `kms:GenerateDataKey*`, `kms:ReEncrypt*`); the app
needs a handful of exact actions, so these statements list exactly those.
"""

from __future__ import annotations

from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sqs as sqs
from constructs import IConstruct

from .compliance import acknowledge


def grant_task_roles(
    *,
    api_role: iam.Role,
    worker_role: iam.Role,
    execution_role: iam.Role,
    key: kms.IKey,
    bucket: s3.IBucket,
    stream: kinesis.IStream,
    dead_letters: sqs.IQueue,
    secrets: list[secretsmanager.ISecret],
) -> None:
    both = (api_role, worker_role)
    for role in both:
        _allow(role, "ReadSecrets", ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
               [s.secret_arn for s in secrets])  # fmt: skip
        # Everything at rest uses the platform key: S3 objects, stream records, queue messages, secrets.
        _allow(role, "UsePlatformKey", ["kms:Decrypt", "kms:GenerateDataKey"], [key.key_arn])
        _allow(role, "ListMedia", ["s3:ListBucket"], [bucket.bucket_arn])
        _allow(role, "ReadWriteMedia", ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"],
               [bucket.arn_for_objects("*")])  # fmt: skip
        acknowledge(
            role,
            f"AwsSolutions-IAM5[Resource::<{_logical_id(bucket)}.Arn>/*]",
            "Object keys are per asset and made at run time; the grant is limited to objects of this one bucket "
            "and to get/put/delete/abort.",
        )
    _allow(api_role, "PublishIngestEvents",
           ["kinesis:PutRecord", "kinesis:PutRecords", "kinesis:DescribeStreamSummary", "kinesis:ListShards"],
           [stream.stream_arn])  # fmt: skip
    _allow(api_role, "RedriveFailedJobs",
           ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"],
           [dead_letters.queue_arn])  # fmt: skip
    _allow(worker_role, "ConsumeIngestEvents",
           ["kinesis:GetRecords", "kinesis:GetShardIterator", "kinesis:DescribeStreamSummary", "kinesis:ListShards"],
           [stream.stream_arn])  # fmt: skip
    _allow(worker_role, "DeadLetterJobs", ["sqs:SendMessage", "sqs:GetQueueAttributes"], [dead_letters.queue_arn])

    acknowledge(
        worker_role,
        "AwsSolutions-IAM5[Resource::*]",
        "cloudwatch:PutMetricData has no resource-level permissions; the statement is conditioned on the "
        "`Vidpipe` namespace, so the worker can publish only its BacklogPerTask metric.",
    )
    acknowledge(
        execution_role,
        "AwsSolutions-IAM5[Resource::*]",
        "ecr:GetAuthorizationToken has no resource-level permissions (AWS requires Resource *); image pulls "
        "themselves are limited to the CDK asset repository by the other statement.",
    )


def _allow(role: iam.Role, sid: str, actions: list[str], resources: list[str]) -> None:
    role.add_to_principal_policy(iam.PolicyStatement(sid=sid, actions=actions, resources=resources))


def _logical_id(construct: IConstruct) -> str:
    """The logical id cdk-nag prints for a resource (`<LogicalId.Arn>` in finding ids)."""
    from aws_cdk import Stack

    cfn = construct.node.default_child
    return Stack.of(construct).resolve(cfn.logical_id)  # type: ignore[union-attr]
