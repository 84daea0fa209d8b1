"""Secret rotation: RDS's own single-user rotation for the database password, a small function for Redis AUTH.

The app re-reads a secret when the server refuses its credentials (vidpipe/cloud/secrets.py), so rotation
needs no restart: RDS keeps existing sessions, and ElastiCache accepts old and new token while clients move.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from .compliance import acknowledge, checkov_skip
from .config import log_retention

ROTATION_DAYS = 30
REDIS_ROTATION_CODE = Path(__file__).with_name("lambdas") / "redis_auth_rotation.py"


class RedisTokenRotation(Construct):
    """Rotates the AUTH token secret every ROTATION_DAYS with ModifyReplicationGroup (ROTATE strategy)."""

    def __init__(self, scope: Construct, construct_id: str, *, suffix: str, secret: secretsmanager.ISecret,
                 group_id: str, key: kms.IKey, log_retention_days: int) -> None:  # fmt: skip
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        group = logs.LogGroup(
            self, "Logs", log_group_name=f"/vidpipe/{suffix}/redis-rotation",
            retention=log_retention(log_retention_days), encryption_key=key, removal_policy=RemovalPolicy.DESTROY,
        )  # fmt: skip
        role = iam.Role(
            self, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"vidpipe {suffix}: rotates the Redis AUTH token",
        )  # fmt: skip
        group_arn = stack.format_arn(service="elasticache", resource="replicationgroup", resource_name=group_id,
                                     arn_format=ArnFormat.COLON_RESOURCE_NAME)  # fmt: skip
        for sid, actions, resources in (
            ("WriteLogs", ["logs:CreateLogStream", "logs:PutLogEvents"], [group.log_group_arn]),
            ("RotateSecret", ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue",
                              "secretsmanager:PutSecretValue", "secretsmanager:UpdateSecretVersionStage"],
             [secret.secret_arn]),
            ("EncryptSecret", ["kms:Decrypt", "kms:GenerateDataKey"], [key.key_arn]),
            ("SetToken", ["elasticache:ModifyReplicationGroup", "elasticache:DescribeReplicationGroups"], [group_arn]),
        ):  # fmt: skip
            role.add_to_principal_policy(iam.PolicyStatement(sid=sid, actions=actions, resources=resources))
        role.add_to_principal_policy(iam.PolicyStatement(
            sid="GeneratePassword", actions=["secretsmanager:GetRandomPassword"], resources=["*"]))
        acknowledge(
            role,
            "AwsSolutions-IAM5[Resource::*]",
            "secretsmanager:GetRandomPassword has no resource-level permissions (AWS requires Resource *); it only "
            "returns random characters and touches no secret.",
        )
        self.function = lambda_.Function(
            self,
            "Function",
            function_name=f"redis-rotation-{suffix}",
            description=f"vidpipe {suffix}: Secrets Manager rotation of the Redis AUTH token",
            runtime=lambda_.Runtime.PYTHON_3_14,
            handler="index.handler",
            code=lambda_.Code.from_inline(REDIS_ROTATION_CODE.read_text()),
            timeout=Duration.minutes(15),  # setSecret waits for the replication group to apply the token
            memory_size=256,
            role=role,
            log_group=group,
            environment={"REPLICATION_GROUP_ID": group_id},
            environment_encryption=key,
        )
        for check, reason in (
            ("CKV_AWS_115", "Invoked by Secrets Manager once per rotation (every 30 days): nothing to cap."),
            ("CKV_AWS_116", "Secrets Manager invokes it synchronously, retries failed steps and records them on the "
                            "secret; a DLQ would stay empty."),
            ("CKV_AWS_117", "Calls only the ElastiCache and Secrets Manager control-plane APIs, never Redis itself; "
                            "outside the VPC it needs no NAT or endpoint."),
        ):  # fmt: skip
            checkov_skip(self.function, check, reason)
        self.schedule = secret.add_rotation_schedule(
            "Schedule", rotation_lambda=self.function, automatically_after=Duration.days(ROTATION_DAYS),
        )  # fmt: skip
        # Secrets Manager may invoke the function for this secret only (confused-deputy guard).
        for child in self.function.node.children:
            if isinstance(child, lambda_.CfnPermission):
                child.source_arn = secret.secret_arn
