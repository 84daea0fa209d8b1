"""The one spelling of every asset and job state. StrEnum members equal their strings, so rows read back from the
database (plain text columns) compare equal to them, and JSON shows the plain value."""

from __future__ import annotations

from enum import StrEnum


class AssetStatus(StrEnum):
    QUEUED = "queued"  # ingested, no stage has started
    PROCESSING = "processing"
    READY = "ready"  # every stage succeeded
    FAILED = "failed"  # a stage failed for good; error_code/error_message say why


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # permanent: the input is at fault
    DEAD = "dead"  # retries (or crashes) exhausted; dead-lettered
    CANCELLED = "cancelled"


LIVE_JOB_STATUSES = (JobStatus.QUEUED, JobStatus.RUNNING)  # at most one live job per (asset, stage, part, run)
ENDED_UNSUCCESSFULLY = (JobStatus.FAILED, JobStatus.DEAD, JobStatus.CANCELLED)
TERMINAL_ASSET_STATUSES = frozenset({AssetStatus.READY, AssetStatus.FAILED})


def sql_literal(*states: StrEnum) -> str:
    """States as a SQL list of string literals (`'queued', 'running'`): raw SQL and partial-index predicates
    interpolate these instead of spelling states themselves."""
    return ", ".join(f"'{s.value}'" for s in states)
