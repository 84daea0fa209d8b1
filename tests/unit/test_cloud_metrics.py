"""BacklogPerTask: the payload is pure; publishing and counting go through botocore's Stubber."""

from __future__ import annotations

from datetime import UTC, datetime

import boto3
import pytest
from botocore.stub import Stubber

from vidpipe.cloud import backlog_metric_data, backlog_per_task, publish_backlog, running_workers
from vidpipe.errors import CloudServiceError, is_retryable


def _client(service: str):
    return boto3.client(
        service, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )


@pytest.mark.parametrize(
    ("backlog", "workers", "expected"), [(0, 0, 0.0), (10, 0, 10.0), (10, 1, 10.0), (10, 4, 2.5), (3, 6, 0.5)]
)
def test_backlog_per_task(backlog: int, workers: int, expected: float) -> None:
    assert backlog_per_task(backlog, workers) == expected


def test_negative_counts_are_rejected() -> None:
    with pytest.raises(ValueError):
        backlog_per_task(-1, 1)


def test_payload_matches_the_scaling_policy() -> None:
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    payload = backlog_metric_data(backlog=12, running_workers=3, environment="dev", timestamp=when)
    assert payload == {
        "Namespace": "Vidpipe",
        "MetricData": [
            {
                "MetricName": "BacklogPerTask",
                "Dimensions": [{"Name": "Environment", "Value": "dev"}],
                "Value": 4.0,
                "Unit": "Count",
                "Timestamp": when,
            }
        ],
    }


def test_publish_sends_exactly_the_payload() -> None:
    client = _client("cloudwatch")
    with Stubber(client) as stubber:
        expected = backlog_metric_data(backlog=9, running_workers=2, environment="prod")
        stubber.add_response("put_metric_data", {}, expected)
        assert publish_backlog(client, backlog=9, running_workers=2, environment="prod") == 4.5
        stubber.assert_no_pending_responses()


def test_publish_failure_is_transient() -> None:
    client = _client("cloudwatch")
    with Stubber(client) as stubber:
        stubber.add_client_error("put_metric_data", "Throttling", "slow down", 400)
        with pytest.raises(CloudServiceError) as info:
            publish_backlog(client, backlog=1, running_workers=1, environment="dev")
    assert is_retryable(info.value)


def test_running_workers() -> None:
    client = _client("ecs")
    with Stubber(client) as stubber:
        stubber.add_response(
            "describe_services",
            {"services": [{"serviceName": "vidpipe-worker-dev", "runningCount": 3, "desiredCount": 4}]},
            {"cluster": "video-processing-dev", "services": ["vidpipe-worker-dev"]},
        )
        assert running_workers(client, cluster="video-processing-dev", service="vidpipe-worker-dev") == 3


def test_missing_service_is_an_error() -> None:
    client = _client("ecs")
    with Stubber(client) as stubber:
        stubber.add_response("describe_services", {"services": [], "failures": [{"reason": "MISSING"}]})
        with pytest.raises(CloudServiceError, match="not found"):
            running_workers(client, cluster="c", service="s")
