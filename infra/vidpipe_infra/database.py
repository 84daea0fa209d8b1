"""Database: RDS PostgreSQL in the isolated subnets, credentials generated into Secrets Manager."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_rds as rds
from constructs import Construct

from .compliance import acknowledge
from .config import log_retention

# A current minor of the current major; cfn-lint flags bare majors and retired minors.
ENGINE_VERSION = rds.PostgresEngineVersion.VER_18_3
DB_NAME = "vidpipe"
DB_USER = "vidpipe"


class Database(Construct):
    """PostgreSQL (pgvector is created by the app's migrations), Multi-AZ, encrypted, TLS-only."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        suffix: str,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        key: kms.IKey,
        instance_type: str,
        multi_az: bool,
        allocated_gib: int,
        max_allocated_gib: int,
        backup_days: int,
        log_retention_days: int,
        deletion_protection: bool,
    ) -> None:
        super().__init__(scope, construct_id)
        identifier = f"rds-postgresql-{suffix}"
        self.security_group = ec2.SecurityGroup(
            self,
            "Sg",
            vpc=vpc,
            security_group_name=f"rds-{suffix}",
            description="PostgreSQL: from the vidpipe tasks only",
            allow_all_outbound=False,
        )
        engine = rds.DatabaseInstanceEngine.postgres(version=ENGINE_VERSION)
        parameters = rds.ParameterGroup(
            self,
            "Params",
            engine=engine,
            description=f"vidpipe {suffix}: TLS required, slow statements logged",
            parameters={"rds.force_ssl": "1", "log_min_duration_statement": "1000"},
        )
        # Pre-create the export log groups so they get a retention, our key, and go away with the stack.
        export_logs = [
            logs.LogGroup(
                self,
                f"Logs{kind.capitalize()}",
                log_group_name=f"/aws/rds/instance/{identifier}/{kind}",
                retention=log_retention(log_retention_days),
                encryption_key=key,
                removal_policy=RemovalPolicy.DESTROY,
            )
            for kind in ("postgresql", "upgrade")
        ]
        self.instance = rds.DatabaseInstance(
            self,
            "Instance",
            instance_identifier=identifier,
            engine=engine,
            instance_type=ec2.InstanceType(instance_type),
            vpc=vpc,
            vpc_subnets=subnets,
            security_groups=[self.security_group],
            subnet_group=rds.SubnetGroup(
                self,
                "Subnets",
                vpc=vpc,
                vpc_subnets=subnets,
                subnet_group_name=f"rds-subnets-{suffix}",
                description=f"vidpipe {suffix}: isolated subnets",
                removal_policy=RemovalPolicy.DESTROY,
            ),
            parameter_group=parameters,
            database_name=DB_NAME,
            credentials=rds.Credentials.from_generated_secret(
                DB_USER, encryption_key=key, exclude_characters=" %+~`#$&*()|[]{}:;<>?!'/@\"\\"
            ),
            multi_az=multi_az,
            publicly_accessible=False,
            storage_encrypted=True,
            storage_encryption_key=key,
            storage_type=rds.StorageType.GP3,
            allocated_storage=allocated_gib,
            max_allocated_storage=max_allocated_gib,
            backup_retention=Duration.days(backup_days),
            delete_automated_backups=True,
            copy_tags_to_snapshot=True,
            monitoring_interval=Duration.seconds(60),
            enable_performance_insights=True,
            performance_insight_encryption_key=key,
            cloudwatch_logs_exports=["postgresql", "upgrade"],
            iam_authentication=True,
            auto_minor_version_upgrade=True,
            deletion_protection=deletion_protection,
            removal_policy=RemovalPolicy.DESTROY,
        )
        for group in export_logs:
            self.instance.node.add_dependency(group)
        self.secret = self.instance.secret

        acknowledge(
            self.instance,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole]",
            "The enhanced-monitoring role is assumable only by monitoring.rds.amazonaws.com and its AWS-maintained "
            "policy writes only to the RDSOSMetrics log group; a hand-copied policy would drift from it.",
        )
        acknowledge(
            self.instance,
            "AwsSolutions-RDS11",
            "Default port 5432 kept: the instance sits in isolated subnets and its security group admits only "
            "the two task security groups, so a non-default port adds no protection.",
        )
        acknowledge(
            self.instance,
            "AwsSolutions-SMG4",
            "The app reads the credentials once at start-up; single-user rotation would cut running tasks off "
            "until they restart. The password is 30 random characters, encrypted with the platform CMK and "
            "readable only by the task roles. Rotate with a redeploy (see docs/deploy.md).",
        )
        if not deletion_protection:
            acknowledge(
                self.instance,
                "AwsSolutions-RDS10",
                "Deletion protection is a profile setting: on in prod, off in dev so `cdk destroy` tears down.",
            )
