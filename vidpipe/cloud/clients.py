"""boto3 clients built from Settings: one place that knows the region, the endpoint override and retry policy."""

from __future__ import annotations

from typing import Any

from vidpipe.settings import Settings


def aws_client(settings: Settings, service: str, *, region: str | None = None, pool: int = 32) -> Any:
    """A boto3 client for `service`, honouring `aws_region` and `aws_endpoint_url` (emulators, MinIO)."""
    import boto3  # only deployments that use AWS pay for the import
    from botocore.config import Config

    config = Config(retries={"mode": "standard", "max_attempts": 5}, max_pool_connections=pool,
                    connect_timeout=10, read_timeout=60)
    # A session per client: boto3's default session is not safe to share between threads while creating clients.
    session = boto3.session.Session()
    return session.client(service, region_name=settings.cloud.aws_region or region,
                          endpoint_url=settings.cloud.aws_endpoint_url, config=config)


def region_of_queue_url(url: str) -> str | None:
    """`us-east-1` from `https://sqs.us-east-1.amazonaws.com/123/name` (None for emulator URLs)."""
    host = url.split("://", 1)[-1].split("/", 1)[0]
    parts = host.split(".")
    return parts[1] if len(parts) > 3 and parts[0] == "sqs" else None
