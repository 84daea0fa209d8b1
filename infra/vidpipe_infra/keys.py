"""Encryption: one customer-managed KMS key for the platform's data at rest."""

from __future__ import annotations

from aws_cdk import Aws, Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct


class Encryption(Construct):
    """A rotating CMK. Services that encrypt on their own behalf (logs, alarms to SNS) get narrow key-policy grants.

    A CMK rather than AWS-managed keys because CloudWatch alarms can only publish to an SNS topic
    encrypted with a key whose policy admits CloudWatch, and so that every store's encryption is
    auditable and revocable in one place.
    """

    def __init__(self, scope: Construct, construct_id: str, *, suffix: str) -> None:
        super().__init__(scope, construct_id)
        self.key = kms.Key(
            self,
            "Key",
            alias=f"alias/vidpipe-{suffix}",
            description=f"vidpipe {suffix}: data at rest (logs, secrets, queues, stream, storage, cache)",
            enable_key_rotation=True,
            pending_window=Duration.days(7),
            removal_policy=RemovalPolicy.DESTROY,
        )
        log_groups = f"arn:{Aws.PARTITION}:logs:{Aws.REGION}:{Aws.ACCOUNT_ID}:*"
        # CloudWatch Logs encrypts log groups itself; limit it to this account's log groups in this region.
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchLogs",
                principals=[iam.ServicePrincipal(f"logs.{Aws.REGION}.amazonaws.com")],
                actions=["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
                resources=["*"],  # in a key policy "*" means this key
                conditions={"ArnLike": {"kms:EncryptionContext:aws:logs:arn": log_groups}},
            )
        )
        # CloudWatch alarms publish to the encrypted SNS topic.
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsToSns",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
                conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}},
            )
        )
