"""What every entry point does to Settings before building a Runtime: secrets resolved, EMF decided."""

from __future__ import annotations

import os
from collections.abc import Mapping

from vidpipe.cloud.secrets import resolve_cloud_settings
from vidpipe.settings import Settings

# Present in ECS tasks (and Lambda); their stdout goes to CloudWatch Logs, which reads EMF lines.
_AWS_MARKERS = ("AWS_EXECUTION_ENV", "ECS_CONTAINER_METADATA_URI_V4", "ECS_CONTAINER_METADATA_URI")


def prepare_settings(settings: Settings, environ: Mapping[str, str] | None = None) -> Settings:
    """Fill the database/Redis URLs from Secrets Manager; turn EMF on when running on AWS (unless set)."""
    settings = resolve_cloud_settings(settings)
    if settings.cloud.metrics_emf is None:
        env = os.environ if environ is None else environ
        settings = settings.updated(metrics_emf=any(env.get(k) for k in _AWS_MARKERS))
    return settings
