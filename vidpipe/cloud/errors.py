"""Errors of the cloud glue, members of vidpipe's typed error family."""

from __future__ import annotations

from vidpipe.errors import TransientError, VidpipeError


class ConfigurationError(VidpipeError):
    """The deployment's configuration is unusable (malformed secret, missing key); a restart will not help."""

    code = "configuration_error"
    http_status = 500


class CloudServiceError(TransientError):
    """An AWS API call failed (throttled, unreachable, denied for now); worth another attempt."""

    code = "cloud_service_error"
