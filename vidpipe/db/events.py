"""The append-only audit log."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from vidpipe.db.models import Event


def record(session: Session, event: str, *, actor: str, asset_id: uuid.UUID | None = None,
           job_id: int | None = None, **detail: Any) -> None:
    """Add an event row to the session's transaction (it commits with the change it describes)."""
    session.add(Event(event=event, actor=actor, asset_id=asset_id, job_id=job_id, detail=detail))
