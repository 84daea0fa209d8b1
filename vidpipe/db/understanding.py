"""Persist what the understanding stages found: segments, fingerprints, machine tags and vectors."""

from __future__ import annotations

import uuid

from sqlalchemy import delete, text
from sqlalchemy.orm import Session

from vidpipe.contract import UnderstandingResult
from vidpipe.db import models


def has_embeddings_table(session: Session) -> bool:
    return session.execute(text("SELECT to_regclass('embeddings') IS NOT NULL")).scalar() is True


def save_understanding(session: Session, asset_id: uuid.UUID, stage: str, result: UnderstandingResult) -> None:
    """Replace everything `stage` wrote for the asset before (re-runs and model changes re-embed cleanly)."""
    vectors_ok = has_embeddings_table(session)
    if vectors_ok:
        session.execute(delete(models.Embedding).where(models.Embedding.asset_id == asset_id,
                                                       models.Embedding.stage == stage))
    for table in (models.Segment, models.Fingerprint, models.MachineTag):
        session.execute(delete(table).where(table.asset_id == asset_id, table.stage == stage))
    for seg in result.segments:
        row = models.Segment(asset_id=asset_id, stage=stage, kind=seg.kind, start_s=seg.start, end_s=seg.end,
                             text=seg.text, score=seg.score, detail=seg.detail,
                             keyframe_key=f"{asset_id}/{seg.keyframe_key}" if seg.keyframe_key else None)
        session.add(row)
        if seg.vectors and vectors_ok:
            session.flush()
            for v in seg.vectors:
                session.add(_embedding(asset_id, stage, v, segment_id=row.id))
    if vectors_ok:
        for v in result.vectors:
            session.add(_embedding(asset_id, stage, v, segment_id=None))
    for kind, data in result.fingerprints.items():
        session.add(models.Fingerprint(asset_id=asset_id, kind=kind, stage=stage, data=data))
    for tag in result.machine_tags:
        session.add(models.MachineTag(asset_id=asset_id, label=tag.label, model=tag.model, stage=stage,
                                      model_version=tag.model_version, score=tag.score))
    session.flush()


def _embedding(asset_id, stage, v, *, segment_id):
    return models.Embedding(asset_id=asset_id, segment_id=segment_id, stage=stage, modality=v.modality,
                            model=v.model, model_version=v.model_version, dim=v.dim, embedding=list(v.values))
