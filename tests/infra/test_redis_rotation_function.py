"""The Redis AUTH rotation function (inline Python in the template), driven step by step as Secrets Manager
drives it, against the AWS emulator's Secrets Manager and ElastiCache."""

from __future__ import annotations

import importlib.util
import uuid

import pytest
from vidpipe_infra.rotation import REDIS_ROTATION_CODE

from tests.aws_emulator import Emulator, aws_emulator_fixture  # noqa: F401 - fixture


class _Context:
    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 600_000


@pytest.fixture
def rotation(aws_emulator: Emulator, monkeypatch: pytest.MonkeyPatch):
    group = aws_emulator.unique("redis")
    aws_emulator.client("elasticache").create_replication_group(
        ReplicationGroupId=group, ReplicationGroupDescription="test", Engine="redis", CacheNodeType="cache.t4g.small",
        NumCacheClusters=2, TransitEncryptionEnabled=True, AuthToken="a" * 32,
    )  # fmt: skip
    monkeypatch.setenv("REPLICATION_GROUP_ID", group)
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws_emulator.endpoint_url)
    spec = importlib.util.spec_from_file_location("redis_auth_rotation", REDIS_ROTATION_CODE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def test_rotation_steps_make_a_new_token_current(rotation, aws_emulator: Emulator) -> None:
    secrets = aws_emulator.client("secretsmanager")
    old = "o" * 64
    arn = secrets.create_secret(Name=aws_emulator.unique("redis-auth"), SecretString=old)["ARN"]
    token = str(uuid.uuid4())
    rotation.create(arn, token, {})  # Secrets Manager's first call (the version does not exist before it)
    pending = secrets.get_secret_value(SecretId=arn, VersionId=token, VersionStage="AWSPENDING")["SecretString"]
    assert len(pending) == 64 and pending != old and pending.isalnum()
    for step in ("createSecret", "setSecret", "testSecret", "finishSecret"):
        rotation.handler({"SecretId": arn, "ClientRequestToken": token, "Step": step}, _Context())
    stages = secrets.describe_secret(SecretId=arn)["VersionIdsToStages"]
    assert "AWSCURRENT" in stages[token]  # the new token is current; the old one became AWSPREVIOUS
    assert [v for v, labels in stages.items() if "AWSPREVIOUS" in labels] != [token]
    # A retried finishSecret is harmless.
    rotation.handler({"SecretId": arn, "ClientRequestToken": token, "Step": "finishSecret"}, _Context())


def test_unknown_token_is_refused(rotation, aws_emulator: Emulator) -> None:
    arn = aws_emulator.client("secretsmanager").create_secret(Name=aws_emulator.unique("r"), SecretString="x")["ARN"]
    with pytest.raises(ValueError, match="not a version"):
        rotation.handler({"SecretId": arn, "ClientRequestToken": "nope", "Step": "setSecret"}, _Context())
