"""API keys: random secrets shown once, stored as SHA-256 hashes (they are high-entropy, so no KDF needed)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from vidpipe.errors import AuthError, ConflictError
from vidpipe.store import events
from vidpipe.store.models import ApiKey

PREFIX = "vp_"


@dataclass(frozen=True)
class NewKey:
    name: str
    secret: str  # shown to the user once, never stored


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_key(session: Session, name: str, *, actor: str = "cli") -> NewKey:
    if session.scalar(select(ApiKey.id).where(ApiKey.name == name)) is not None:
        raise ConflictError(f"an API key named {name!r} already exists")
    secret = PREFIX + secrets.token_urlsafe(32)
    session.add(ApiKey(name=name, prefix=secret[:8], key_hash=_hash(secret)))
    events.record(session, "apikey.created", actor=actor, name=name)
    return NewKey(name, secret)


def verify_key(session: Session, secret: str | None) -> str:
    """The key's name, or AuthError. Touches last_used_at at most once a minute."""
    if not secret:
        raise AuthError("missing API key: send it as 'Authorization: Bearer <key>' or 'X-API-Key'")
    key = session.scalar(select(ApiKey).where(ApiKey.key_hash == _hash(secret), ApiKey.revoked_at.is_(None)))
    if key is None:
        raise AuthError("invalid or revoked API key")
    session.execute(update(ApiKey).where(ApiKey.id == key.id,
                                         (ApiKey.last_used_at.is_(None))
                                         | (ApiKey.last_used_at < func.now() - func.make_interval(0, 0, 0, 0, 0, 1)))
                    .values(last_used_at=func.now()))
    return key.name


def revoke_key(session: Session, name: str, *, actor: str = "cli") -> bool:
    done = session.execute(update(ApiKey).where(ApiKey.name == name, ApiKey.revoked_at.is_(None))
                           .values(revoked_at=func.now()).returning(ApiKey.id)).first()
    if done:
        events.record(session, "apikey.revoked", actor=actor, name=name)
    return done is not None


def list_keys(session: Session) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).order_by(ApiKey.created_at)))
