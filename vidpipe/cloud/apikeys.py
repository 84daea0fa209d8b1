"""API-key material from Secrets Manager: the stack generates the callers' key there; vidpipe keeps its hash."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from vidpipe.errors import InputError
from vidpipe.store import apikeys, events
from vidpipe.store.models import ApiKey

PREFIX_LABEL = "secretsmgr"  # shown where vidpipe-made keys show their first characters; reveals nothing


def import_key(session: Session, name: str, secret: str, *, actor: str = "cli") -> str:
    """Store the key's hash under `name`: "created", "unchanged", or "rotated" (the secret's value changed)."""
    secret = secret.strip()
    if len(secret) < 20:
        raise InputError("the secret is too short to be an API key (20 characters at least)", code="weak_api_key")
    digest = apikeys._hash(secret)
    row = session.scalar(select(ApiKey).where(ApiKey.name == name).with_for_update())
    if row is None:
        session.add(ApiKey(name=name, prefix=PREFIX_LABEL, key_hash=digest))
        events.record(session, "apikey.imported", actor=actor, name=name)
        return "created"
    if row.key_hash == digest and row.revoked_at is None:
        return "unchanged"
    row.key_hash, row.prefix, row.revoked_at = digest, PREFIX_LABEL, None
    events.record(session, "apikey.rotated", actor=actor, name=name)
    return "rotated"
