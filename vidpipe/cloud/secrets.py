"""Turn what the CDK stack injects (secret ARNs, the Redis endpoint) into the URLs the app connects with.

Called once by an entry point after building `Settings`; never logs a secret value (they stay `SecretStr`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from pydantic import SecretStr
from sqlalchemy.engine import make_url

from vidpipe.errors import CloudServiceError, ConfigurationError
from vidpipe.settings import Settings

_DB_KEYS = ("username", "password", "host", "port")
# Errors a retry cannot fix: the deployment is wrong (missing secret, role or key policy).
_PERMANENT_CODES = frozenset(
    {"ResourceNotFoundException", "AccessDeniedException", "DecryptionFailure", "InvalidRequestException"}
)


def resolve_cloud_settings(settings: Settings, secrets_client: Any | None = None) -> Settings:
    """A copy of `settings` with `database_url` and `redis_url` filled from the injected secrets.

    Explicit `database_url` / `redis_url` win; nothing is fetched when there is nothing to resolve.
    `secrets_client` is a boto3 `secretsmanager` client (one is made on first need when omitted).
    """
    client = _LazyClient(secrets_client, settings)
    updates: dict[str, Any] = {}
    if settings.database_url is None and settings.cloud.db_secret is not None:
        updates["database_url"] = SecretStr(database_url_from_secret(_secret_text(settings.cloud.db_secret, client)))
    if settings.redis_url is None and settings.cloud.redis_endpoint:
        token = None
        if settings.cloud.redis_auth_secret is not None:
            token = _secret_text(settings.cloud.redis_auth_secret, client)
        updates["redis_url"] = SecretStr(redis_url(settings.cloud.redis_endpoint, token))
    for name in ("playback_signing_key", "cloudfront_private_key"):  # an ARN becomes the secret's value
        value: SecretStr | None = getattr(settings, name)
        if value is not None and value.get_secret_value().strip().startswith("arn:"):
            updates[name] = SecretStr(_secret_text(value, client))
    return settings.model_copy(update=updates) if updates else settings


def database_url_from_secret(secret_text: str) -> str:
    """`postgresql+psycopg://user:pass@host:port/dbname?sslmode=require` from an RDS-style secret JSON."""
    try:
        data = json.loads(secret_text)
    except json.JSONDecodeError:
        raise ConfigurationError("database secret is not JSON (expected RDS's username/password/host/port)") from None
    if not isinstance(data, dict):
        raise ConfigurationError("database secret JSON is not an object")
    missing = [key for key in _DB_KEYS if data.get(key) in (None, "")]
    if missing:
        raise ConfigurationError(f"database secret lacks {', '.join(missing)}")
    try:
        port = int(data["port"])
    except (TypeError, ValueError):
        raise ConfigurationError("database secret has a non-numeric port") from None
    user = quote(str(data["username"]), safe="")
    password = quote(str(data["password"]), safe="")
    dbname = quote(str(data.get("dbname") or "postgres"), safe="")
    return f"postgresql+psycopg://{user}:{password}@{data['host']}:{port}/{dbname}?sslmode=require"


def redis_url(endpoint: str, token: str | None) -> str:
    """`rediss://:token@host:port/0`: ElastiCache with in-transit encryption speaks only TLS."""
    host, sep, port = endpoint.strip().rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ConfigurationError(f"redis endpoint must be host:port, got {endpoint!r}")
    auth = f":{quote(token, safe='')}@" if token else ""
    return f"rediss://{auth}{host}:{port}/0"


def database_password_source(settings: Settings, secrets_client: Any | None = None) -> Callable[[], str]:
    """Reads the database secret again and returns its password (after a rotation refused the old one)."""
    client = _LazyClient(secrets_client, settings)
    secret = settings.cloud.db_secret
    assert secret is not None

    def current_password() -> str:
        url = make_url(database_url_from_secret(_secret_text(secret, client)))
        return str(url.password)

    return current_password


def redis_url_source(settings: Settings, secrets_client: Any | None = None) -> Callable[[], str] | None:
    """Builds the Redis URL again from the AUTH secret (after Redis refused the old token); None without one."""
    if settings.cloud.redis_auth_secret is None or not settings.cloud.redis_endpoint:
        return None
    client = _LazyClient(secrets_client, settings)
    secret, endpoint = settings.cloud.redis_auth_secret, settings.cloud.redis_endpoint

    def current_url() -> str:
        return redis_url(endpoint, _secret_text(secret, client))

    return current_url


def read_secret(settings: Settings, value: str, secrets_client: Any | None = None) -> str:
    """A secret's text: `value` itself, or the SecretString of the Secrets Manager ARN it names."""
    return _secret_text(SecretStr(value), _LazyClient(secrets_client, settings))


def _secret_text(value: SecretStr, client: _LazyClient) -> str:
    """The secret itself when given inline, else its SecretString fetched by ARN."""
    raw = value.get_secret_value().strip()
    if not raw.startswith("arn:"):
        return raw
    return client.get_secret_string(raw)


class _LazyClient:
    def __init__(self, client: Any | None, settings: Settings) -> None:
        self._client = client
        self._settings = settings

    def get_secret_string(self, arn: str) -> str:
        if self._client is None:
            import boto3  # only deployments that use secrets pay for the import

            region = self._settings.cloud.aws_region or _arn_region(arn)
            endpoint = self._settings.cloud.aws_endpoint_url  # an emulator's, in tests and local stacks
            extra = {"endpoint_url": endpoint} if endpoint else {}
            self._client = boto3.client("secretsmanager", region_name=region, **extra)
        from botocore.exceptions import BotoCoreError, ClientError

        _quiet_wire_logs()
        try:
            response = self._client.get_secret_value(SecretId=arn)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in _PERMANENT_CODES:
                raise ConfigurationError(f"cannot read secret {_name(arn)}: {code}") from exc
            raise CloudServiceError(f"reading secret {_name(arn)} failed: {code or 'error'}") from exc
        except BotoCoreError as exc:
            raise CloudServiceError(f"reading secret {_name(arn)} failed: {type(exc).__name__}") from exc
        text = response.get("SecretString")
        if not text:
            raise ConfigurationError(f"secret {_name(arn)} has no SecretString")
        return text


def _quiet_wire_logs() -> None:
    """botocore logs whole response bodies (a secret's value among them) at DEBUG: never let those through."""
    for name in ("botocore", "urllib3"):
        logger = logging.getLogger(name)
        if logger.getEffectiveLevel() < logging.INFO:
            logger.setLevel(logging.INFO)


def _arn_region(arn: str) -> str | None:
    parts = arn.split(":")
    return parts[3] if len(parts) > 3 and parts[3] else None


def _name(arn: str) -> str:
    """The secret's name part of an ARN, for messages (ARNs are identifiers, not secrets)."""
    return arn.split(":secret:", 1)[-1]
