"""Discovery: SSM parameters and stack outputs so people and other stacks can find the platform."""

from __future__ import annotations

from aws_cdk import CfnOutput
from aws_cdk import aws_ssm as ssm
from constructs import Construct

# Output name -> SSM parameter leaf under /vidpipe/{suffix}/.
PARAMETERS = {
    "VpcId": "vpc-id",
    "EcsClusterName": "ecs-cluster-name",
    "IngestServiceName": "ingest-service-name",
    "RdsEndpoint": "rds-endpoint",
    "RedisEndpoint": "redis-endpoint",
    "EfsFileSystemId": "efs-file-system-id",
    "ApiEndpoint": "api-endpoint",
    "DbSecretArn": "db-secret-arn",
    "MediaBucketName": "media-bucket-name",
    "IngestStreamName": "ingest-stream-name",
    "DeadLetterQueueName": "dead-letter-queue-name",
    "DeadLetterQueueUrl": "dead-letter-queue-url",
    "AlarmTopicArn": "alarm-topic-arn",
    "ApiKeySecretArn": "api-key-secret-arn",
    "PublicBaseUrl": "public-base-url",
    "CdnDomainName": "cdn-domain-name",
    "ImageRepositoryUri": "image-repository-uri",
}
# The seed contract other stacks read (the names predate vidpipe): prod publishes the bare paths, every other
# environment the same paths with its suffix appended, so environments never overwrite each other.
SEED_PREFIX = "/videopgvector"
SEED_PARAMETERS = {"EcsClusterName": "ecs-cluster-name", "VpcId": "ecs-vpc-id"}


def seed_parameter_name(leaf: str, suffix: str) -> str:
    return f"{SEED_PREFIX}/{leaf}" if suffix == "prod" else f"{SEED_PREFIX}/{leaf}-{suffix}"


class Discovery(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, suffix: str, values: dict[str, str]) -> None:
        super().__init__(scope, construct_id)
        missing = set(PARAMETERS) ^ set(values)
        if missing:
            raise ValueError(f"discovery values do not match PARAMETERS: {sorted(missing)}")
        self.parameters: dict[str, ssm.StringParameter] = {}
        for output, leaf in PARAMETERS.items():
            self.parameters[output] = ssm.StringParameter(
                self,
                f"{output}Param",
                parameter_name=f"/vidpipe/{suffix}/{leaf}",
                string_value=values[output],
                description=f"vidpipe {suffix}: {output}",
            )
            CfnOutput(scope, output, value=values[output], description=f"vidpipe {suffix}: {output}")
        for output, leaf in SEED_PARAMETERS.items():
            self.parameters[f"Seed{output}"] = ssm.StringParameter(
                self,
                f"Seed{output}Param",
                parameter_name=seed_parameter_name(leaf, suffix),
                string_value=values[output],
                description=f"vidpipe {suffix}: {output} (seed contract)",
            )
