"""The database schema: assets, their technical metadata, outputs, jobs, the audit log and API keys."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pgvector.sqlalchemy import Vector
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from vidpipe.states import LIVE_JOB_STATUSES, AssetStatus, JobStatus, sql_literal

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def _now_column() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


class Asset(Base):
    __tablename__ = "assets"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    title: Mapped[str] = mapped_column(Text, nullable=False, default="")
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    tags: Mapped[list[str]] = mapped_column(ARRAY(Text), nullable=False, default=list)
    source_kind: Mapped[str] = mapped_column(String(16), nullable=False)  # upload | path | url | s3 | kinesis
    source_ref: Mapped[str | None] = mapped_column(Text)
    original_name: Mapped[str] = mapped_column(Text, nullable=False, default="")
    sha256: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger, nullable=False)
    content_type: Mapped[str | None] = mapped_column(Text)
    original_key: Mapped[str] = mapped_column(Text, nullable=False)
    profile: Mapped[str] = mapped_column(String(64), nullable=False, default="standard")
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=AssetStatus.QUEUED)
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _now_column()
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(),
                                                 onupdate=func.now(), nullable=False)

    media_info: Mapped[MediaInfo | None] = relationship(back_populates="asset", cascade="all, delete-orphan",
                                                        uselist=False, lazy="selectin")
    # Tallest first; audio and subtitle tracks (no height) in the order they were written, i.e. the source's
    # track order: without the id the database may return them in any order.
    renditions: Mapped[list[Rendition]] = relationship(
        cascade="all, delete-orphan", lazy="selectin",
        order_by="[Rendition.height.desc().nulls_last(), Rendition.id]")
    artifacts: Mapped[list[Artifact]] = relationship(cascade="all, delete-orphan", lazy="selectin",
                                                     order_by="Artifact.key")

    __table_args__ = (Index("ix_assets_status_created", "status", "created_at"),)


class MediaInfo(Base):
    """Queryable technical metadata from the probe stage, plus the full probe as JSON."""

    __tablename__ = "media_info"

    asset_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"), primary_key=True)
    format: Mapped[str | None] = mapped_column(Text)
    duration: Mapped[float | None] = mapped_column(Float, index=True)
    bit_rate: Mapped[int | None] = mapped_column(BigInteger)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer, index=True)
    rotation: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    fps: Mapped[float | None] = mapped_column(Float)
    video_codec: Mapped[str | None] = mapped_column(String(32), index=True)
    audio_codec: Mapped[str | None] = mapped_column(String(32))
    has_video: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    has_audio: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    probe: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)

    asset: Mapped[Asset] = relationship(back_populates="media_info")


class Rendition(Base):
    __tablename__ = "renditions"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    asset_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"), nullable=False)
    name: Mapped[str] = mapped_column(String(64), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)  # video | audio
    playlist_key: Mapped[str] = mapped_column(Text, nullable=False)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    bandwidth: Mapped[int | None] = mapped_column(BigInteger)
    codecs: Mapped[str | None] = mapped_column(Text)
    language: Mapped[str | None] = mapped_column(String(16))
    quality: Mapped[dict[str, Any] | None] = mapped_column(JSONB)  # sampled VMAF, per-title target and CRF

    __table_args__ = (UniqueConstraint("asset_id", "name", name="uq_renditions_asset_name"),)


class Artifact(Base):
    """A published output file of a stage, stored at `key` in the media store."""

    __tablename__ = "artifacts"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    asset_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"), nullable=False)
    stage: Mapped[str] = mapped_column(String(32), nullable=False)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    key: Mapped[str] = mapped_column(Text, nullable=False)
    content_type: Mapped[str] = mapped_column(Text, nullable=False)
    size_bytes: Mapped[int] = mapped_column(BigInteger, nullable=False)

    __table_args__ = (
        UniqueConstraint("asset_id", "key", name="uq_artifacts_asset_key"),
        Index("ix_artifacts_asset_stage", "asset_id", "stage"),
    )


# The run a job belongs to, in SQL: a chunked transcode's parts carry their planning transcode job's id in their
# payload ("run"); every other job is run 0. Part of the queue's uniqueness (enqueue's ON CONFLICT names it).
JOB_RUN_SQL = "coalesce((payload ->> 'run')::bigint, 0)"


class Job(Base):
    """One unit of queued work: a stage for an asset. The queue is this table."""

    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    asset_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"))
    stage: Mapped[str] = mapped_column(String(32), nullable=False)
    # queued | running | succeeded | failed (permanent) | dead (retries exhausted) | cancelled
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=JobStatus.QUEUED)  # JobStatus
    priority: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=5)
    run_after: Mapped[datetime] = _now_column()
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    worker_id: Mapped[str | None] = mapped_column(Text)
    # The running worker's last heartbeat: with its presence lock gone for longer than a grace, it died.
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Attempts that ended with their worker dying (counted in `attempts` too): a crash loop goes dead.
    crashes: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default=text("0"))
    # Retries after an infrastructure outage (disk full, storage or database down): not counted in `attempts`.
    deferrals: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default=text("0"))
    progress: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    last_error_code: Mapped[str | None] = mapped_column(String(64))
    last_error: Mapped[str | None] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)
    # Several live jobs of one stage for one asset, told apart by part (the chunks of a long video); else 0.
    part: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default=text("0"))
    created_at: Mapped[datetime] = _now_column()
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("ix_jobs_claim", "priority", "run_after",
              postgresql_where=text(f"status = {sql_literal(JobStatus.QUEUED)}")),
        Index("ix_jobs_lease", "lease_expires_at", postgresql_where=text(f"status = {sql_literal(JobStatus.RUNNING)}")),
        Index("ix_jobs_asset_stage", "asset_id", "stage"),
        # At most one live job per asset, stage, part and run: enqueueing twice is a no-op, not a duplicate. The
        # run (the parts of a chunked transcode: their planning job's id, else 0) keeps a reprocess's parts apart
        # from a superseded run's that are still live (vidpipe.jobs.chunked).
        Index("uq_jobs_live_asset_stage_run", "asset_id", "stage", "part", text(JOB_RUN_SQL), unique=True,
              postgresql_where=text(f"status IN ({sql_literal(*LIVE_JOB_STATUSES)})")),
    )


class Event(Base):
    """Append-only audit log: who/what/when for every state change. Rows outlive their asset."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    asset_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), index=True)
    job_id: Mapped[int | None] = mapped_column(BigInteger)
    at: Mapped[datetime] = _now_column()
    actor: Mapped[str] = mapped_column(Text, nullable=False)  # "key:<name>", "worker:<id>", "cli"
    event: Mapped[str] = mapped_column(String(64), nullable=False)  # asset.created, job.succeeded, ...
    detail: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128), nullable=False, unique=True)
    prefix: Mapped[str] = mapped_column(String(16), nullable=False)
    key_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)  # sha256 of the secret
    # read < ingest < admin (vidpipe.db.apikeys.ROLES); keys made before roles existed became admin.
    role: Mapped[str] = mapped_column(String(16), nullable=False, server_default="admin")

    __table_args__ = (CheckConstraint("role IN ('read', 'ingest', 'admin')", name="role"),)
    created_at: Mapped[datetime] = _now_column()
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


# --- understanding: segments, fingerprints, machine tags, embeddings ---------------------------------------
class Segment(Base):
    __tablename__ = "segments"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    asset_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"), nullable=False)
    stage: Mapped[str] = mapped_column(String(32), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    start_s: Mapped[float] = mapped_column(Float, nullable=False)
    end_s: Mapped[float] = mapped_column(Float, nullable=False)
    text: Mapped[str | None] = mapped_column(Text)
    score: Mapped[float | None] = mapped_column(Float)
    keyframe_key: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)

    __table_args__ = (Index("ix_segments_asset_kind_start", "asset_id", "kind", "start_s"),)


class Fingerprint(Base):
    __tablename__ = "fingerprints"

    asset_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), primary_key=True)  # phash | dhash | audio | loudness
    stage: Mapped[str] = mapped_column(String(32), nullable=False)
    data: Mapped[Any] = mapped_column(JSONB, nullable=False)


class MachineTag(Base):
    __tablename__ = "machine_tags"

    asset_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"), primary_key=True)
    label: Mapped[str] = mapped_column(String(64), primary_key=True)
    model: Mapped[str] = mapped_column(String(128), primary_key=True)
    stage: Mapped[str] = mapped_column(String(32), nullable=False)
    model_version: Mapped[str] = mapped_column(String(64), nullable=False)
    score: Mapped[float] = mapped_column(Float, nullable=False)

    __table_args__ = (Index("ix_machine_tags_label_score", "label", "score"),)


class Embedding(Base):
    """Vectors (pgvector). The table exists only where the server has the `vector` extension."""

    __tablename__ = "embeddings"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    asset_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"), nullable=False)
    segment_id: Mapped[int | None] = mapped_column(ForeignKey("segments.id", ondelete="CASCADE"))  # None: pooled
    stage: Mapped[str] = mapped_column(String(32), nullable=False)
    modality: Mapped[str] = mapped_column(String(16), nullable=False)  # visual | audio | text
    model: Mapped[str] = mapped_column(String(128), nullable=False)
    model_version: Mapped[str] = mapped_column(String(64), nullable=False)
    dim: Mapped[int] = mapped_column(Integer, nullable=False)
    embedding: Mapped[Any] = mapped_column(Vector(), nullable=False)

    __table_args__ = (
        Index("ix_embeddings_asset_modality", "asset_id", "modality"),
        Index("ix_embeddings_model_modality", "model", "modality"),
    )


VECTOR_TABLES = frozenset({"embeddings"})
# The HNSW indexes search creates per (model, dim) at run time (vidpipe.search.index); not in migrations.
VECTOR_INDEX_PREFIX = "ix_embeddings_hnsw_"
