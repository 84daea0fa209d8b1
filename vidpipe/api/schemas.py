"""What the API accepts and returns: the XCreate / XUpdate / XPublic families."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, StringConstraints, model_validator
from pydantic.json_schema import JsonValue

from vidpipe.states import AssetStatus, JobStatus

# PostgreSQL text cannot hold NUL: refused as input (422), and said so in the schema.
NO_NUL = "^[^\\u0000]*$"


Text = Annotated[str, StringConstraints(pattern=NO_NUL)]
def _not_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("expected an integer, not true/false")
    return value


StrictInt = Annotated[int, BeforeValidator(_not_bool)]  # JSON true/false are not numbers here (1.0 is)



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


class RenditionQuality(BaseModel):
    """VMAF of a video rung measured on sampled windows of the source (not the whole file)."""

    vmaf: float
    target_vmaf: float | None = Field(None, description="the per-title target; null for a fixed ladder")
    meets_target: bool | None = Field(None, description="false: the rung is more than 1 VMAF point below target")
    crf: float | None = None
    sampled_seconds: float
    measured_at: str | None = Field(None, description="picture size the VMAF is measured at (WxH): the top rung's, "
                                    "so a lower rung's score is what it looks like upscaled to the largest size")
    measured_on: str | None = Field(None, description="rendition: the rung's own encode, scored on the windows "
                                    "after the ladder; trials: estimated from the trial encodes of the windows")


class RenditionPublic(BaseModel):
    name: str
    kind: str
    width: int | None
    height: int | None
    bandwidth: int | None
    codecs: str | None
    language: str | None
    quality: RenditionQuality | None = None
    url: str


class ArtifactPublic(BaseModel):
    kind: str
    key: str
    content_type: str
    size_bytes: int
    url: str


class PlaybackPublic(BaseModel):
    """Signed, expiring URLs: a player, an `<img>` or an embed fetches them without an API key. The HLS grant
    covers the asset's `hls/` files, so the variant playlists and segments the master names are covered too."""

    playback_url: str | None = Field(description="HLS master playlist; None until the transcode finished")
    poster_url: str | None
    sprite_vtt_url: str | None = Field(description="Scrub previews (WebVTT naming sprite sheets beside it)")
    download_url: str = Field(description="The original file")
    expires_at: datetime


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
    playable: bool = Field(default=False, description="The HLS master can be played: a long video is playable "
                           "from the start while its later chunks are still encoding (status not yet ready)")
    poster_url: str | None
    sprite_vtt_url: str | None
    playback: PlaybackPublic | None = Field(default=None, description="Signed URLs for players (no API key)")
    duplicate: bool | None = Field(default=None, description="Only on create: the bytes were already known")


class AssetList(BaseModel):
    items: list[AssetPublic]
    next_cursor: str | None


class _AssetFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Text | None = Field(default=None, max_length=500)
    description: Text | None = Field(default=None, max_length=20_000)
    tags: list[Annotated[Text, Field(max_length=100)]] | None = Field(default=None, max_length=100)


class AssetUpdate(_AssetFields):
    """PATCH: only the fields sent change."""


class AssetCreateFromSource(_AssetFields):
    """JSON body of POST /v1/assets: a server-side path below an import root, or a URL to fetch."""

    path: Text | None = Field(default=None, max_length=4096)
    url: Text | None = Field(default=None, max_length=8192)
    profile: Text | None = Field(default=None, max_length=64)
    priority: StrictInt = Field(default=0, ge=-100, le=100)

    @model_validator(mode="after")
    def _one_source(self) -> AssetCreateFromSource:
        if (self.path is None) == (self.url is None):
            raise ValueError("give exactly one of 'path' or 'url'")
        return self

    @classmethod
    def request_schema(cls) -> dict[str, Any]:
        """The JSON schema as the validator above sees it: exactly one of `path` and `url` (anyOf of two)."""
        base = cls.model_json_schema()
        variants = []
        for source, other in (("path", "url"), ("url", "path")):
            props = {k: v for k, v in base["properties"].items() if k != other}
            props[source] = {"type": "string", "maxLength": base["properties"][source]["anyOf"][0]["maxLength"],
                             "pattern": NO_NUL}
            variants.append({"type": "object", "properties": props, "required": [source],
                             "additionalProperties": False})
        return {"title": base["title"], "description": base.get("description", ""), "anyOf": variants}


def _stage_names() -> list[JsonValue]:  # for json_schema_extra
    from vidpipe.stages import registry

    return list(registry.STAGES)


class ReprocessRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stage: str | None = Field(default=None, json_schema_extra={"enum": _stage_names()},
                              description="default: the first stage (others: 422 unknown_stage)")


class ReprocessAllRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stage: str | None = Field(default=None, json_schema_extra={"enum": _stage_names()},
                              description="the stage to re-run for every asset missing it; with `failed`, "
                                          "default: the first stage")
    failed: StrictBool = Field(False, description="every failed asset, from the stage given or the first one "
                                                  "(e.g. after an upgrade fixed what failed them)")


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
