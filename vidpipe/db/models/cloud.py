"""Tables of the cloud adapters: which stream records became assets, and where each Kinesis shard was read to."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from vidpipe.db.models.core import Base


class IngestRecord(Base):
    """One consumed ingest record. The unique key makes a replayed record a no-op; the row is written in the
    same transaction as the asset it created, so a record either made its asset and this row, or neither."""

    __tablename__ = "ingest_records"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    # "event:<event_id>", "s3:<bucket>/<key>@<sequencer>" or "kinesis:<stream>/<shard>/<sequence number>"
    record_key: Mapped[str] = mapped_column(Text, nullable=False, unique=True)
    asset_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("assets.id", ondelete="SET NULL"), index=True)
    stream: Mapped[str] = mapped_column(Text, nullable=False)
    shard_id: Mapped[str] = mapped_column(String(128), nullable=False)
    sequence_number: Mapped[str] = mapped_column(String(128), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


class KinesisCheckpoint(Base):
    """The last sequence number handled per shard; a restarted consumer resumes AFTER it."""

    __tablename__ = "kinesis_checkpoints"

    stream: Mapped[str] = mapped_column(Text, primary_key=True)
    shard_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    sequence_number: Mapped[str] = mapped_column(String(128), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(),
                                                 onupdate=func.now(), nullable=False)
