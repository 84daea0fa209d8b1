"""What the API accepts and returns: the XCreate / XUpdate / XPublic families."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

AssetStatus = Literal["queued", "processing", "ready", "failed"]
JobStatus = Literal["queued", "running", "succeeded", "failed", "dead", "cancelled"]


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorBody(BaseModel):
    """The shape of every error response."""

    error: ErrorDetail


class MediaPublic(BaseModel):
    duration: float | None
    width: int | None
    height: int | None
    fps: float | None
    video_codec: str | None
    audio_codec: str | None
    bit_rate: int | None
    format: str | None
    has_video: bool
    has_audio: bool
    rotation: int


class StagePublic(BaseModel):
    stage: str
    status: str  # a job status, or "pending" when the stage was never queued
    progress_percent: float = Field(ge=0, le=100)
    attempts: int
    last_error: str | None


class RenditionPublic(BaseModel):
    name: str
    kind: str
    width: int | None
    height: int | None
    bandwidth: int | None
    codecs: str | None
    language: str | None
    url: str


class ArtifactPublic(BaseModel):
    kind: str
    key: str
    content_type: str
    size_bytes: int
    url: str


class LoudnessPublic(BaseModel):
    """EBU R128 / ITU-R BS.1770-4 measurement of the audio track (channel-weighted, LFE excluded)."""

    integrated_lufs: float
    range_lu: float | None
    true_peak_dbtp: float | None
    channels: list[str] | None = Field(default=None, description="Channels measured, e.g. FL FR FC LFE BL BR")


class AssetPublic(BaseModel):
    id: uuid.UUID
    title: str
    description: str
    tags: list[str]
    status: AssetStatus
    error: ErrorDetail | None
    source_kind: str
    original_name: str
    sha256: str
    size_bytes: int
    profile: str
    created_at: datetime
    updated_at: datetime
    media: MediaPublic | None
    loudness: LoudnessPublic | None = None
    stages: list[StagePublic]
    renditions: list[RenditionPublic]
    # Published outputs except HLS segments (a long video has thousands; playlists list them).
    artifacts: list[ArtifactPublic]
    original_url: str
    hls_master_url: str | None
    poster_url: str | None
    sprite_vtt_url: str | None
    duplicate: bool | None = Field(default=None, description="Only on create: the bytes were already known")


class AssetList(BaseModel):
    items: list[AssetPublic]
    next_cursor: str | None


class _AssetFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(default=None, max_length=500)
    description: str | None = Field(default=None, max_length=20_000)
    tags: list[str] | None = Field(default=None, max_length=100)


class AssetUpdate(_AssetFields):
    """PATCH: only the fields sent change."""


class AssetCreateFromSource(_AssetFields):
    """JSON body of POST /v1/assets: a server-side path below an import root, or a URL to fetch."""

    path: str | None = None
    url: str | None = Field(default=None, max_length=8192)
    profile: str | None = None
    priority: int = Field(default=0, ge=-100, le=100)

    @model_validator(mode="after")
    def _one_source(self) -> AssetCreateFromSource:
        if (self.path is None) == (self.url is None):
            raise ValueError("give exactly one of 'path' or 'url'")
        return self


class ReprocessRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stage: str | None = None


class ReprocessAccepted(BaseModel):
    asset_id: uuid.UUID
    stage: str
    job_id: int | None = Field(description="None when a live job for the stage already existed")


class ReprocessAllAccepted(BaseModel):
    stage: str
    queued: int


class JobPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    asset_id: uuid.UUID | None
    stage: str
    status: JobStatus
    priority: int
    attempts: int
    max_attempts: int
    progress_percent: float = Field(ge=0, le=100)
    cancel_requested: bool
    last_error_code: str | None
    last_error: str | None
    run_after: datetime
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class JobList(BaseModel):
    items: list[JobPublic]
    next_cursor: str | None


class EventPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime
    actor: str
    event: str
    asset_id: uuid.UUID | None
    job_id: int | None
    detail: dict[str, Any]


class EventList(BaseModel):
    items: list[EventPublic]
    next_cursor: str | None
