"""Persisted view counts per asset and hour (vidpipe.cache.popularity adds to them; GET /v1/popular reads)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index
from sqlalchemy.orm import Mapped, mapped_column

from vidpipe.db.models.core import Base


class AssetView(Base):
    __tablename__ = "asset_views"

    asset_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"), primary_key=True)
    bucket_start: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)  # the hour
    views: Mapped[int] = mapped_column(BigInteger, nullable=False)

    __table_args__ = (Index("ix_asset_views_bucket_start", "bucket_start"),)
