"""Task-role permissions, written out action by action rather than with CDK's broad `grant_*` helpers.

CDK's helpers grant families (`s3:GetObject*`, `kms:GenerateDataKey*`, `kms:ReEncrypt*`); the app
needs a handful of exact actions, so these statements list exactly those.
"""

from __future__ import annotations

from aws_cdk import Stack
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
    ingest_role: iam.Role,
    execution_role: iam.Role,
    key: kms.IKey,
    bucket: s3.IBucket,
    stream: kinesis.IStream,
    dead_letters: sqs.IQueue,
    secrets: list[secretsmanager.ISecret],
) -> None:
    # All three open the same Runtime: database and Redis URLs from the two secrets, the S3 media store.
    for role in (api_role, worker_role, ingest_role):
        _allow(role, "ReadSecrets", ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
               [s.secret_arn for s in secrets])  # fmt: skip
        # Everything at rest uses the platform key: S3 objects, stream records, queue messages, secrets.
        _allow(role, "UsePlatformKey", ["kms:Decrypt", "kms:GenerateDataKey"], [key.key_arn])
        # ListBucket: HeadObject answering 404 (not 403) and delete_prefix. Only workers sweep abandoned
        # multipart uploads at start-up (S3MediaStore.sweep_incoming -> ListMultipartUploads); the API and the
        # consumer abort their own uploads by id, and nothing lists the parts of an upload.
        listing = ["s3:ListBucket", "s3:ListBucketMultipartUploads"] if role is worker_role else ["s3:ListBucket"]
        _allow(role, "ListMedia", listing, [bucket.bucket_arn])
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
    # Only the consumer reads the stream, and only with the three calls KinesisConsumer makes.
    _allow(ingest_role, "ConsumeIngestEvents", ["kinesis:ListShards", "kinesis:GetShardIterator", "kinesis:GetRecords"],
           [stream.stream_arn])  # fmt: skip
    _allow(worker_role, "DeadLetterJobs", ["sqs:SendMessage", "sqs:GetQueueAttributes"], [dead_letters.queue_arn])

    acknowledge(
        execution_role,
        "AwsSolutions-IAM5[Resource::*]",
        "ecr:GetAuthorizationToken has no resource-level permissions (AWS requires Resource *); image pulls "
        "themselves are limited to the stack's vidpipe-{suffix} repository by the other statement.",
    )


def grant_worker_self_management(role: iam.Role, *, suffix: str, namespace: str) -> None:
    """What a worker needs to steer its own scaling: task protection, its service's count, its metric."""
    stack = Stack.of(role)
    cluster = f"video-processing-{suffix}"
    grant_backlog_publishing(role, suffix=suffix, namespace=namespace)
    # ECS task scale-in protection for the worker's own tasks while a job runs.
    _allow(role, "ScaleInProtection", ["ecs:GetTaskProtection", "ecs:UpdateTaskProtection"],
           [stack.format_arn(service="ecs", resource="task", resource_name=f"{cluster}/*")])  # fmt: skip
    acknowledge(
        role,
        f"AwsSolutions-IAM5[Resource::arn:aws:ecs:us-east-1:<AWS::AccountId>:task/{cluster}/*]",
        "Task ids exist only at run time; the grant covers tasks of this one cluster and only the two "
        "task-protection actions a worker uses to shield itself from scale-in during a job.",
    )


def grant_backlog_publishing(role: iam.Role, *, suffix: str, namespace: str) -> None:
    """BacklogPerTask: the API publishes it too, so the metric exists while no worker runs (scale from zero)."""
    stack = Stack.of(role)
    cluster = f"video-processing-{suffix}"
    # Counting running workers for BacklogPerTask. Built from names: the service's ARN attribute would
    # make the service wait for this policy, which waits for the service.
    service = stack.format_arn(service="ecs", resource="service", resource_name=f"{cluster}/vidpipe-worker-{suffix}")
    _allow(role, "DescribeOwnService", ["ecs:DescribeServices"], [service])
    # PutMetricData has no resource-level permissions; the namespace condition is the narrowing.
    role.add_to_principal_policy(
        iam.PolicyStatement(
            sid="PublishBacklogMetric",
            actions=["cloudwatch:PutMetricData"],
            resources=["*"],
            conditions={"StringEquals": {"cloudwatch:namespace": namespace}},
        )
    )
    acknowledge(
        role,
        "AwsSolutions-IAM5[Resource::*]",
        "cloudwatch:PutMetricData has no resource-level permissions; the statement is conditioned on the "
        f"`{namespace}` namespace, so the task can publish only the BacklogPerTask metric.",
    )


def _allow(role: iam.Role, sid: str, actions: list[str], resources: list[str]) -> None:
    role.add_to_principal_policy(iam.PolicyStatement(sid=sid, actions=actions, resources=resources))


def _logical_id(construct: IConstruct) -> str:
    """The logical id cdk-nag prints for a resource (`<LogicalId.Arn>` in finding ids)."""
    cfn = construct.node.default_child
    return Stack.of(construct).resolve(cfn.logical_id)  # type: ignore[union-attr]
