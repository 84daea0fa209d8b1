"""Shared file system: EFS as the processing scratch space, mounted by the API and worker tasks."""

from __future__ import annotations

from aws_cdk import RemovalPolicy, Tags
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_efs as efs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from .config import APP_GID, APP_UID


class SharedFileSystem(Construct):
    """Encrypted EFS reachable over NFS only from the task security groups (added by the stack)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        suffix: str,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        key: kms.IKey,
    ) -> None:
        super().__init__(scope, construct_id)
        self.security_group = ec2.SecurityGroup(
            self,
            "Sg",
            vpc=vpc,
            security_group_name=f"efs-{suffix}",
            description="EFS mount targets: NFS from the vidpipe tasks only",
            allow_all_outbound=False,
        )
        self.file_system = efs.FileSystem(
            self,
            "Fs",
            file_system_name=f"efs-{suffix}",
            vpc=vpc,
            vpc_subnets=subnets,
            security_group=self.security_group,
            encrypted=True,
            kms_key=key,
            lifecycle_policy=efs.LifecyclePolicy.AFTER_14_DAYS,
            out_of_infrequent_access_policy=efs.OutOfInfrequentAccessPolicy.AFTER_1_ACCESS,
            performance_mode=efs.PerformanceMode.GENERAL_PURPOSE,
            throughput_mode=efs.ThroughputMode.ELASTIC,
            enable_automatic_backups=False,
            allow_anonymous_access=False,
            removal_policy=RemovalPolicy.DESTROY,
        )
        Tags.of(self.file_system).add("Name", f"efs-{suffix}")
        # NFS without TLS is refused for everyone; the tasks mount with transit encryption.
        self.file_system.add_to_resource_policy(
            iam.PolicyStatement(
                sid="DenyUnencryptedTransport",
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=["*"],
                resources=["*"],
                conditions={"Bool": {"aws:SecureTransport": "false"}},
            )
        )
        # Every task sees /vidpipe-scratch as the image's user, whatever uid the client claims.
        self.access_point = self.file_system.add_access_point(
            "Scratch",
            path="/vidpipe-scratch",
            posix_user=efs.PosixUser(uid=str(APP_UID), gid=str(APP_GID)),
            create_acl=efs.Acl(owner_uid=str(APP_UID), owner_gid=str(APP_GID), permissions="750"),
        )
