"""The database schema, one module per owner; importing this package registers every table (alembic sees them all)."""

from vidpipe.db.models.cloud import IngestRecord, KinesisCheckpoint
from vidpipe.db.models.core import (
    VECTOR_INDEX_PREFIX,
    VECTOR_TABLES,
    ApiKey,
    Artifact,
    Asset,
    Base,
    Embedding,
    Event,
    Fingerprint,
    Job,
    MachineTag,
    MediaInfo,
    Rendition,
    Segment,
)
from vidpipe.db.models.popularity import AssetView
from vidpipe.db.models.web import ProcessingProfile, UploadSession, WebSession

__all__ = [
    "VECTOR_INDEX_PREFIX", "VECTOR_TABLES", "ApiKey", "Artifact", "Asset", "AssetView", "Base", "Embedding",
    "Event", "Fingerprint", "IngestRecord", "Job", "KinesisCheckpoint", "MachineTag", "MediaInfo",
    "ProcessingProfile", "Rendition", "Segment", "UploadSession", "WebSession",
]
