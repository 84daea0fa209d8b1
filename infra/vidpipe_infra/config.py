"""Environment values: the suffix every name carries and the dev / prod sizing profiles."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace

REGION = "us-east-1"
APP_UID = 10001  # the image's non-root user (Dockerfile) and the EFS access point owner
APP_GID = 10001
API_PORT = 8000
VPC_CIDR = "10.40.0.0/16"  # a literal, so rules that admit "the VPC" are checkable at synth

_SUFFIX_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,14}[a-z0-9])?$")


@dataclass(frozen=True, kw_only=True)
class Profile:
    """Sizing and safety knobs of one environment; every construct gets these as keyword arguments."""

    name: str
    nat_gateways: int
    multi_az: bool
    db_instance_type: str
    db_allocated_gib: int
    db_max_allocated_gib: int
    db_backup_days: int
    redis_node_type: str
    redis_nodes: int
    api_cpu: int
    api_memory_mib: int
    api_desired: int
    worker_cpu: int
    worker_memory_mib: int
    worker_min: int
    worker_max: int
    worker_backlog_per_task: int
    ingest_cpu: int  # the one `vidpipe consume-kinesis` task (never scaled: one consumer per stream)
    ingest_memory_mib: int
    log_retention_days: int
    stream_retention_hours: int
    api_rate_limit: int
    api_burst_limit: int
    deletion_protection: bool
    owner: str = "platform-team"
    cost_center: str = "media-platform"


PROFILES: dict[str, Profile] = {
    "dev": Profile(
        name="dev",
        nat_gateways=1,
        multi_az=True,
        db_instance_type="t4g.medium",
        db_allocated_gib=50,
        db_max_allocated_gib=200,
        db_backup_days=7,
        redis_node_type="cache.t4g.small",
        redis_nodes=2,
        api_cpu=512,
        api_memory_mib=1024,
        api_desired=1,
        worker_cpu=2048,
        worker_memory_mib=4096,
        worker_min=0,
        worker_max=4,
        worker_backlog_per_task=4,
        ingest_cpu=256,
        ingest_memory_mib=512,
        log_retention_days=14,
        stream_retention_hours=24,
        api_rate_limit=50,
        api_burst_limit=100,
        deletion_protection=False,
    ),
    "prod": Profile(
        name="prod",
        nat_gateways=2,
        multi_az=True,
        db_instance_type="m7g.large",
        db_allocated_gib=200,
        db_max_allocated_gib=1000,
        db_backup_days=14,
        redis_node_type="cache.m7g.large",
        redis_nodes=3,
        api_cpu=1024,
        api_memory_mib=2048,
        api_desired=2,
        worker_cpu=4096,
        worker_memory_mib=8192,
        worker_min=0,
        worker_max=20,
        worker_backlog_per_task=4,
        ingest_cpu=512,
        ingest_memory_mib=1024,
        log_retention_days=90,
        stream_retention_hours=168,
        api_rate_limit=500,
        api_burst_limit=1000,
        deletion_protection=True,
    ),
}


def validate_suffix(suffix: str) -> str:
    """Names like `redis-{suffix}` and `api-nlb-{suffix}` have tight length and charset limits."""
    if not _SUFFIX_RE.match(suffix):
        raise ValueError(
            f"environmentSuffix {suffix!r} must be 1-16 characters of a-z, 0-9 and '-', not starting or ending with '-'"
        )
    return suffix


def resolve_suffix(context_value: object | None, environ: dict[str, str] | None = None) -> str:
    """CDK context `environmentSuffix` wins, then $ENVIRONMENT_SUFFIX, then `dev`."""
    env = os.environ if environ is None else environ
    raw = context_value if context_value not in (None, "") else env.get("ENVIRONMENT_SUFFIX") or "dev"
    return validate_suffix(str(raw))


def resolve_profile(suffix: str, context_value: object | None = None, **overrides: object) -> Profile:
    """`prod` sizing for the prod suffix, else `dev`, unless the `profile` context names one."""
    name = str(context_value) if context_value else ("prod" if suffix == "prod" else "dev")
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}; choose one of {sorted(PROFILES)}")
    profile = PROFILES[name]
    return replace(profile, **overrides) if overrides else profile


def log_retention(days: int):
    """CloudWatch Logs accepts only certain retention periods; map days to that enum."""
    from aws_cdk.aws_logs import RetentionDays

    allowed = {
        1: RetentionDays.ONE_DAY,
        3: RetentionDays.THREE_DAYS,
        7: RetentionDays.ONE_WEEK,
        14: RetentionDays.TWO_WEEKS,
        30: RetentionDays.ONE_MONTH,
        60: RetentionDays.TWO_MONTHS,
        90: RetentionDays.THREE_MONTHS,
        180: RetentionDays.SIX_MONTHS,
        365: RetentionDays.ONE_YEAR,
    }
    if days not in allowed:
        raise ValueError(f"log retention must be one of {sorted(allowed)} days, not {days}")
    return allowed[days]
