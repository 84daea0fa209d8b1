"""Glue between vidpipe and the AWS stack in infra/: secrets at start-up, the backlog metric for autoscaling."""

from vidpipe.cloud.cloudwatch import backlog_metric_data, backlog_per_task, publish_backlog, running_workers
from vidpipe.cloud.secrets import resolve_cloud_settings
from vidpipe.errors import ConfigurationError

__all__ = [
    "ConfigurationError",
    "backlog_metric_data",
    "backlog_per_task",
    "publish_backlog",
    "resolve_cloud_settings",
    "running_workers",
]
