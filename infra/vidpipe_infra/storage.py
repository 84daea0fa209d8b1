"""Object storage: the media bucket (originals, renditions, thumbnails) and its access-log bucket."""

from __future__ import annotations

from aws_cdk import Aws, Duration, RemovalPolicy
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from .compliance import acknowledge, checkov_skip


class Storage(Construct):
    """Private, encrypted, TLS-only buckets that empty themselves when the stack is destroyed."""

    def __init__(self, scope: Construct, construct_id: str, *, suffix: str, key: kms.IKey) -> None:
        super().__init__(scope, construct_id)
        unique = f"{suffix}-{Aws.ACCOUNT_ID}-{Aws.REGION}"  # bucket names are global

        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            bucket_name=f"access-logs-{unique}",
            # S3 server access log delivery supports only SSE-S3 on the target bucket.
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            # CloudFront's standard logs are delivered with an ACL grant, so ACLs must stay possible; the
            # bucket owner still owns every object (S3 server access logs arrive through the bucket policy).
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
            enforce_ssl=True,
            lifecycle_rules=[s3.LifecycleRule(id="expire", expiration=Duration.days(90))],
            removal_policy=RemovalPolicy.DESTROY,
            auto_delete_objects=True,
        )
        acknowledge(
            self.access_logs,
            "AwsSolutions-S1",
            "This bucket is the server-access-log target; logging it into itself would loop.",
        )
        checkov_skip(self.access_logs, "CKV_AWS_18", "This is the access-log target bucket itself.")
        checkov_skip(
            self.access_logs, "CKV_AWS_21", "Write-once access logs that expire after 90 days; versions add nothing."
        )

        self.media = s3.Bucket(
            self,
            "Media",
            bucket_name=f"media-{unique}",
            encryption=s3.BucketEncryption.KMS,
            encryption_key=key,
            bucket_key_enabled=True,  # one KMS call per bucket key, not per object request
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            versioned=True,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="media/",
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="tidy",
                    abort_incomplete_multipart_upload_after=Duration.days(7),
                    noncurrent_version_expiration=Duration.days(30),
                )
            ],
            removal_policy=RemovalPolicy.DESTROY,
            auto_delete_objects=True,
        )
