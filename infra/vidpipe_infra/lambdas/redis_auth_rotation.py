"""Secrets Manager rotation for the ElastiCache AUTH token (the four steps Secrets Manager drives).

setSecret adds the pending token with the ROTATE strategy, so the group accepts the old and the new token
while clients move over (vidpipe re-reads the secret when Redis refuses its token); the old token stays
valid until the next rotation. Environment: REPLICATION_GROUP_ID.
"""

import os
import time

import boto3

secrets = boto3.client("secretsmanager")
elasticache = boto3.client("elasticache")
GROUP = os.environ["REPLICATION_GROUP_ID"]


class NotReady(Exception):
    """Raised to make Secrets Manager retry the step later."""


def handler(event, context):
    arn, token, step = event["SecretId"], event["ClientRequestToken"], event["Step"]
    versions = secrets.describe_secret(SecretId=arn).get("VersionIdsToStages", {})
    if token not in versions:
        raise ValueError("rotation token is not a version of the secret")
    if "AWSCURRENT" in versions[token]:
        return  # this version is already current: a retried finishSecret
    {"createSecret": create, "setSecret": set_token, "testSecret": test, "finishSecret": finish}[step](
        arn, token, versions)
    if step == "setSecret":  # the token applies in a few minutes; wait here rather than re-apply on a retry
        while _group()["Status"] != "available":
            if context.get_remaining_time_in_millis() < 30_000:
                raise NotReady(f"{GROUP} is still applying the new token")
            time.sleep(15)


def create(arn, token, versions):
    try:
        secrets.get_secret_value(SecretId=arn, VersionId=token, VersionStage="AWSPENDING")
        return
    except secrets.exceptions.ResourceNotFoundException:
        pass
    value = secrets.get_random_password(PasswordLength=64, ExcludePunctuation=True, IncludeSpace=False)
    secrets.put_secret_value(SecretId=arn, ClientRequestToken=token, SecretString=value["RandomPassword"],
                             VersionStages=["AWSPENDING"])


def _group():
    return elasticache.describe_replication_groups(ReplicationGroupId=GROUP)["ReplicationGroups"][0]


def set_token(arn, token, versions):
    if _group()["Status"] != "available":
        raise NotReady(f"{GROUP} is busy; Secrets Manager retries")
    pending = secrets.get_secret_value(SecretId=arn, VersionId=token, VersionStage="AWSPENDING")["SecretString"]
    elasticache.modify_replication_group(ReplicationGroupId=GROUP, AuthToken=pending,
                                         AuthTokenUpdateStrategy="ROTATE", ApplyImmediately=True)


def test(arn, token, versions):
    if _group()["Status"] != "available":  # the new token is accepted once the modification is done
        raise NotReady(f"{GROUP} is still applying the new token")
    if _group().get("AuthTokenEnabled") is False:
        raise ValueError(f"{GROUP} has AUTH turned off")


def finish(arn, token, versions):
    current = next(v for v, stages in versions.items() if "AWSCURRENT" in stages)
    secrets.update_secret_version_stage(SecretId=arn, VersionStage="AWSCURRENT", MoveToVersionId=token,
                                        RemoveFromVersionId=current)
