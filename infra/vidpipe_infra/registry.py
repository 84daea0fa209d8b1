"""Registry: the ECR repository the services run their image from (pushed by docs/deploy.md's build step)."""

from __future__ import annotations

import re

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_kms as kms
from constructs import Construct

_TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
KEEP_IMAGES = 30  # tagged images kept: enough to roll back a month of daily deploys


def validate_image_tag(tag: str) -> str:
    """ECR's tag grammar; the tag is part of every task definition, so a typo fails at synth, not at deploy."""
    if not _TAG_RE.match(tag):
        raise ValueError(f"imageTag {tag!r} is not a valid image tag (letters, digits, '_', '.', '-'; 1-128)")
    return tag


class ImageRepository(Construct):
    """`vidpipe-{suffix}`: immutable tags, scanned on push, old images expired, emptied when the stack goes."""

    def __init__(self, scope: Construct, construct_id: str, *, suffix: str, key: kms.IKey, image_tag: str) -> None:
        super().__init__(scope, construct_id)
        self.repository = ecr.Repository(
            self,
            "Repository",
            repository_name=f"vidpipe-{suffix}",
            image_scan_on_push=True,
            # A tag names one build for ever: a task definition always runs exactly what was reviewed.
            image_tag_mutability=ecr.TagMutability.IMMUTABLE,
            encryption=ecr.RepositoryEncryption.KMS,
            encryption_key=key,
            lifecycle_rules=[
                ecr.LifecycleRule(
                    rule_priority=1,
                    description="untagged layers left by interrupted pushes",
                    tag_status=ecr.TagStatus.UNTAGGED,
                    max_image_age=Duration.days(7),
                ),
                ecr.LifecycleRule(
                    rule_priority=2,
                    description=f"keep the newest {KEEP_IMAGES} images",
                    tag_status=ecr.TagStatus.ANY,
                    max_image_count=KEEP_IMAGES,
                ),
            ],
            removal_policy=RemovalPolicy.DESTROY,
            empty_on_delete=True,
        )
        self.image_tag = validate_image_tag(image_tag)
        self.image = ecs.ContainerImage.from_ecr_repository(self.repository, tag=self.image_tag)
