"""Cache: an ElastiCache Redis replication group with automatic failover and AUTH over TLS."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticache as elasticache
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from .compliance import acknowledge
from .config import log_retention
from .rotation import RedisTokenRotation

REDIS_PORT = 6379
ENGINE_VERSION = "7.1"


class Cache(Construct):
    """No L2 exists for ElastiCache, so this wraps `CfnReplicationGroup`."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        suffix: str,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        key: kms.IKey,
        node_type: str,
        nodes: int,
        multi_az: bool,
        log_retention_days: int,
    ) -> None:
        super().__init__(scope, construct_id)
        if nodes < 2:
            raise ValueError("automatic failover needs at least 2 nodes")
        self.group_id = f"redis-{suffix}"
        self.security_group = ec2.SecurityGroup(
            self,
            "Sg",
            vpc=vpc,
            security_group_name=f"redis-{suffix}",
            description="Redis: from the vidpipe tasks only",
            allow_all_outbound=False,
        )
        # ElastiCache accepts only printable ASCII without some punctuation; none at all is simplest.
        self.auth_secret = secretsmanager.Secret(
            self,
            "AuthToken",
            description=f"vidpipe {suffix}: Redis AUTH token",
            encryption_key=key,
            generate_secret_string=secretsmanager.SecretStringGenerator(
                password_length=64, exclude_punctuation=True, include_space=False
            ),
            removal_policy=RemovalPolicy.DESTROY,
        )
        subnet_group = elasticache.CfnSubnetGroup(
            self,
            "Subnets",
            cache_subnet_group_name=f"redis-subnets-{suffix}",
            description=f"vidpipe {suffix}: isolated subnets",
            subnet_ids=vpc.select_subnets(subnet_type=subnets.subnet_type).subnet_ids,
        )
        subnet_group.apply_removal_policy(RemovalPolicy.DESTROY)
        slow_log = logs.LogGroup(
            self,
            "SlowLog",
            log_group_name=f"/vidpipe/{suffix}/redis-slow-log",
            retention=log_retention(log_retention_days),
            encryption_key=key,
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.replication_group = elasticache.CfnReplicationGroup(
            self,
            "Group",
            replication_group_id=self.group_id,
            replication_group_description=f"vidpipe {suffix}: cache and pub/sub",
            engine="redis",
            engine_version=ENGINE_VERSION,
            cache_node_type=node_type,
            num_cache_clusters=nodes,
            automatic_failover_enabled=True,
            multi_az_enabled=multi_az,
            at_rest_encryption_enabled=True,
            kms_key_id=key.key_arn,
            transit_encryption_enabled=True,
            transit_encryption_mode="required",
            # A dynamic reference: CloudFormation resolves it at deploy time; the token is never in the template.
            auth_token=self.auth_secret.secret_value.unsafe_unwrap(),
            cache_subnet_group_name=subnet_group.ref,
            security_group_ids=[self.security_group.security_group_id],
            port=REDIS_PORT,
            auto_minor_version_upgrade=True,
            snapshot_retention_limit=1,
            log_delivery_configurations=[
                elasticache.CfnReplicationGroup.LogDeliveryConfigurationRequestProperty(
                    destination_type="cloudwatch-logs",
                    destination_details=elasticache.CfnReplicationGroup.DestinationDetailsProperty(
                        cloud_watch_logs_details=elasticache.CfnReplicationGroup.CloudWatchLogsDestinationDetailsProperty(
                            log_group=slow_log.log_group_name
                        )
                    ),
                    log_format="json",
                    log_type="slow-log",
                )
            ],
        )
        self.replication_group.apply_removal_policy(RemovalPolicy.DESTROY)
        acknowledge(
            self.replication_group,
            "AwsSolutions-AEC5",
            "Default port 6379 kept: isolated subnets, security group admits only the task security groups, "
            "and every connection needs TLS plus the AUTH token.",
        )
        self.rotation = RedisTokenRotation(
            self, "Rotation", suffix=suffix, secret=self.auth_secret, group_id=self.group_id, key=key,
            log_retention_days=log_retention_days,
        )  # fmt: skip
        self.rotation.schedule.node.add_dependency(self.replication_group)  # nothing to rotate before it exists
        self.member_ids = [f"{self.group_id}-{i:03d}" for i in range(1, nodes + 1)]

    @property
    def endpoint(self) -> str:
        """`host:port` of the primary, as the app's VIDPIPE_REDIS_ENDPOINT expects."""
        group = self.replication_group
        return f"{group.attr_primary_end_point_address}:{group.attr_primary_end_point_port}"

