"""The BacklogPerTask metric the worker service scales on (infra/vidpipe_infra/service.py).

Target tracking cannot divide two metrics, so the app publishes backlog / running workers itself.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from vidpipe.errors import CloudServiceError

NAMESPACE = "Vidpipe"
METRIC_NAME = "BacklogPerTask"


def backlog_per_task(backlog: int, running_workers: int) -> float:
    """Queued jobs per running worker; with no worker running, the whole backlog (so scaling starts one)."""
    if backlog < 0 or running_workers < 0:
        raise ValueError("backlog and running_workers must be >= 0")
    return backlog / max(1, running_workers)


def backlog_metric_data(
    *, backlog: int, running_workers: int, environment: str, timestamp: datetime | None = None
) -> dict[str, Any]:
    """Keyword arguments for CloudWatch `put_metric_data` (pure: no client, no clock unless given)."""
    datum: dict[str, Any] = {
        "MetricName": METRIC_NAME,
        "Dimensions": [{"Name": "Environment", "Value": environment}],
        "Value": backlog_per_task(backlog, running_workers),
        "Unit": "Count",
    }
    if timestamp is not None:
        datum["Timestamp"] = timestamp
    return {"Namespace": NAMESPACE, "MetricData": [datum]}


def publish_backlog(
    client: Any, *, backlog: int, running_workers: int, environment: str, timestamp: datetime | None = None
) -> float:
    """Publish one BacklogPerTask point with a boto3 `cloudwatch` client; returns the value sent."""
    payload = backlog_metric_data(
        backlog=backlog, running_workers=running_workers, environment=environment, timestamp=timestamp
    )
    try:
        client.put_metric_data(**payload)
    except Exception as exc:  # botocore's ClientError / BotoCoreError; the caller retries next tick
        raise CloudServiceError(f"publishing {METRIC_NAME} failed: {type(exc).__name__}") from exc
    return payload["MetricData"][0]["Value"]


def running_workers(client: Any, *, cluster: str, service: str) -> int:
    """Running task count of the worker service, from a boto3 `ecs` client."""
    try:
        response = client.describe_services(cluster=cluster, services=[service])
    except Exception as exc:
        raise CloudServiceError(f"describing service {service} failed: {type(exc).__name__}") from exc
    services = response.get("services") or []
    if not services:
        raise CloudServiceError(f"service {service} not found in cluster {cluster}")
    return int(services[0].get("runningCount", 0))
