"""resolve_cloud_settings: secrets injected by the CDK stack become connection URLs, with botocore's Stubber."""

from __future__ import annotations

import json
import logging

import boto3
import pytest
from botocore.stub import Stubber
from pydantic import SecretStr

from vidpipe.cloud import ConfigurationError, resolve_cloud_settings
from vidpipe.cloud.secrets import database_url_from_secret, redis_url
from vidpipe.errors import CloudServiceError, VidpipeError, is_retryable
from vidpipe.settings import Settings

DB_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:DatabaseSecret-AbCdEf"
REDIS_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:CacheAuthToken-GhIjKl"
RDS_SECRET = {
    "username": "vidpipe",
    "password": "p@ss:w/rd?#%",
    "host": "rds-postgresql-dev.abc.us-east-1.rds.amazonaws.com",
    "port": 5432,
    "dbname": "vidpipe",
    "engine": "postgres",
    "dbInstanceIdentifier": "rds-postgresql-dev",
}


def _settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
def secrets_client():
    client = boto3.client(
        "secretsmanager", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def _answer(stubber: Stubber, arn: str, secret_string: str) -> None:
    stubber.add_response(
        "get_secret_value",
        {"ARN": arn, "Name": arn.rsplit(":", 1)[-1], "SecretString": secret_string},
        {"SecretId": arn},
    )


def test_both_urls_come_from_secret_arns(secrets_client) -> None:
    client, stubber = secrets_client
    _answer(stubber, DB_ARN, json.dumps(RDS_SECRET))
    _answer(stubber, REDIS_ARN, "TokenWithoutPunctuation123")
    settings = _settings(
        db_secret=DB_ARN, redis_endpoint="redis-dev.xyz.cache.amazonaws.com:6379", redis_auth_secret=REDIS_ARN
    )

    resolved = resolve_cloud_settings(settings, secrets_client=client)

    assert resolved.database_url is not None and resolved.redis_url is not None
    assert resolved.database_url.get_secret_value() == (
        "postgresql+psycopg://vidpipe:p%40ss%3Aw%2Frd%3F%23%25"
        "@rds-postgresql-dev.abc.us-east-1.rds.amazonaws.com:5432/vidpipe?sslmode=require"
    )
    assert resolved.redis_url.get_secret_value() == (
        "rediss://:TokenWithoutPunctuation123@redis-dev.xyz.cache.amazonaws.com:6379/0"
    )
    assert settings.database_url is None, "the input settings are not mutated"


def test_url_round_trips_through_sqlalchemy() -> None:
    from sqlalchemy.engine import make_url

    url = make_url(database_url_from_secret(json.dumps(RDS_SECRET)))
    assert (url.username, url.password, url.host, url.port, url.database) == (
        "vidpipe",
        RDS_SECRET["password"],
        RDS_SECRET["host"],
        5432,
        "vidpipe",
    )
    assert url.query["sslmode"] == "require"


def test_inline_json_needs_no_client() -> None:
    settings = _settings(db_secret=json.dumps(RDS_SECRET), redis_endpoint="localhost:6380")
    resolved = resolve_cloud_settings(settings, secrets_client=object())  # would fail if called
    assert resolved.database_url is not None
    assert resolved.database_url.get_secret_value().endswith("/vidpipe?sslmode=require")
    assert resolved.redis_url == SecretStr("rediss://localhost:6380/0")


def test_explicit_urls_win_and_nothing_is_fetched() -> None:
    settings = _settings(database_url="postgresql+psycopg://local/db", db_secret=DB_ARN)
    assert resolve_cloud_settings(settings, secrets_client=object()) is settings


def test_missing_keys_are_a_configuration_error_without_values(secrets_client) -> None:
    client, stubber = secrets_client
    _answer(stubber, DB_ARN, json.dumps({"username": "vidpipe", "password": "hunter2-secret"}))
    with pytest.raises(ConfigurationError, match="lacks host, port") as info:
        resolve_cloud_settings(_settings(db_secret=DB_ARN), secrets_client=client)
    assert "hunter2-secret" not in str(info.value)
    assert isinstance(info.value, VidpipeError) and not is_retryable(info.value)


@pytest.mark.parametrize("text", ["not json", "[1, 2]", json.dumps({**RDS_SECRET, "port": "x"})])
def test_malformed_secret(text: str) -> None:
    with pytest.raises(ConfigurationError):
        database_url_from_secret(text)


def test_missing_dbname_defaults_to_postgres() -> None:
    secret = {k: v for k, v in RDS_SECRET.items() if k != "dbname"}
    assert database_url_from_secret(json.dumps(secret)).endswith("/postgres?sslmode=require")


def test_secret_not_found_is_permanent(secrets_client) -> None:
    client, stubber = secrets_client
    stubber.add_client_error("get_secret_value", "ResourceNotFoundException", "no such secret", 400)
    with pytest.raises(ConfigurationError, match="DatabaseSecret-AbCdEf: ResourceNotFoundException"):
        resolve_cloud_settings(_settings(db_secret=DB_ARN), secrets_client=client)


def test_throttling_is_transient(secrets_client) -> None:
    client, stubber = secrets_client
    stubber.add_client_error("get_secret_value", "ThrottlingException", "slow down", 400)
    with pytest.raises(CloudServiceError) as info:
        resolve_cloud_settings(_settings(db_secret=DB_ARN), secrets_client=client)
    assert is_retryable(info.value)


@pytest.mark.parametrize("endpoint", ["no-port", ":6379", "host:abc", ""])
def test_bad_redis_endpoint(endpoint: str) -> None:
    with pytest.raises(ConfigurationError):
        redis_url(endpoint, "t")


def test_token_is_quoted() -> None:
    assert redis_url("h:1", "a/b@c") == "rediss://:a%2Fb%40c@h:1/0"


def test_secrets_stay_secret(secrets_client, caplog: pytest.LogCaptureFixture) -> None:
    client, stubber = secrets_client
    _answer(stubber, DB_ARN, json.dumps(RDS_SECRET))
    _answer(stubber, REDIS_ARN, "SuperSecretToken987")
    caplog.set_level(logging.DEBUG)
    resolved = resolve_cloud_settings(
        _settings(db_secret=DB_ARN, redis_endpoint="r:6379", redis_auth_secret=REDIS_ARN), secrets_client=client
    )
    shown = repr(resolved) + str(resolved.model_dump())
    assert RDS_SECRET["password"] not in shown and "SuperSecretToken987" not in shown
    assert "SuperSecretToken987" not in caplog.text and RDS_SECRET["password"] not in caplog.text


def test_client_is_created_for_the_arn_region(monkeypatch: pytest.MonkeyPatch) -> None:
    made: dict[str, object] = {}

    class FakeClient:
        def get_secret_value(self, SecretId: str) -> dict[str, str]:  # noqa: N803 - boto3's spelling
            return {"SecretString": json.dumps(RDS_SECRET)}

    def fake_client(service: str, region_name: str | None = None) -> FakeClient:
        made.update(service=service, region=region_name)
        return FakeClient()

    monkeypatch.setattr(boto3, "client", fake_client)
    resolve_cloud_settings(_settings(db_secret=DB_ARN.replace("us-east-1", "eu-west-1")))
    assert made == {"service": "secretsmanager", "region": "eu-west-1"}
