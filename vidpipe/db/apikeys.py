"""API keys: random secrets shown once, stored as SHA-256 hashes (they are high-entropy, so no KDF needed).

Each key has a role. Roles are ordered, each includes the ones before it:
  read   - metadata, search, playback (what a player or a catalogue front end needs)
  ingest - read + create assets (uploads, path and URL ingest)
  admin  - everything: edit, delete, reprocess, jobs, profiles
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Literal, TypeGuard, cast, get_args

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from vidpipe.db import events
from vidpipe.db.models import ApiKey
from vidpipe.errors import AuthError, ConflictError, ForbiddenError, InputError

PREFIX = "vp_"
Role = Literal["read", "ingest", "admin"]
ROLES: tuple[Role, ...] = get_args(Role)  # in order: each role includes the ones before it


@dataclass(frozen=True)
class NewKey:
    name: str
    secret: str  # shown to the user once, never stored
    role: Role = "admin"


@dataclass(frozen=True)
class KeyIdentity:
    name: str
    role: Role


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def is_role(value: str) -> TypeGuard[Role]:
    return value in ROLES


def stored_role(value: str) -> Role:
    """A role read back from an api_keys row, or from a cache or session filled from one: the table's check
    constraint admits only ROLES, so this is not checked again (an unknown one would still allow nothing)."""
    return cast(Role, value)


def check_role(role: str) -> Role:
    if not is_role(role):
        raise InputError(f"unknown role {role!r}: one of {', '.join(ROLES)}", code="invalid_role")
    return role


def allows(role: str, needed: Role) -> bool:
    """Whether a key of `role` may do what needs `needed` (unknown roles may do nothing)."""
    return is_role(role) and ROLES.index(role) >= ROLES.index(needed)


def require_role(identity: KeyIdentity, needed: Role) -> None:
    if not allows(identity.role, needed):
        raise ForbiddenError(f"the API key {identity.name!r} has the role {identity.role!r}; "
                             f"this needs {needed!r} (or higher)")


def create_key(session: Session, name: str, *, role: str = "admin", actor: str = "cli") -> NewKey:
    checked = check_role(role)
    if session.scalar(select(ApiKey.id).where(ApiKey.name == name)) is not None:
        raise ConflictError(f"an API key named {name!r} already exists")
    secret = PREFIX + secrets.token_urlsafe(32)
    session.add(ApiKey(name=name, prefix=secret[:8], key_hash=_hash(secret), role=checked))
    events.record(session, "apikey.created", actor=actor, name=name, role=checked)
    return NewKey(name, secret, checked)


def verify(session: Session, secret: str | None) -> KeyIdentity:
    """The key's name and role, or AuthError. Touches last_used_at at most once a minute."""
    if not secret:
        raise AuthError("missing API key: send it as 'Authorization: Bearer <key>' or 'X-API-Key'")
    key = session.scalar(select(ApiKey).where(ApiKey.key_hash == _hash(secret), ApiKey.revoked_at.is_(None)))
    if key is None:
        raise AuthError("invalid or revoked API key")
    session.execute(update(ApiKey).where(ApiKey.id == key.id,
                                         (ApiKey.last_used_at.is_(None))
                                         | (ApiKey.last_used_at < func.now() - func.make_interval(0, 0, 0, 0, 0, 1)))
                    .values(last_used_at=func.now()))
    return KeyIdentity(key.name, stored_role(key.role))


def verify_key(session: Session, secret: str | None) -> str:
    """The key's name, or AuthError (see `verify` for the role too)."""
    return verify(session, secret).name


def set_role(session: Session, name: str, role: str, *, actor: str = "cli") -> bool:
    checked = check_role(role)
    done = session.execute(update(ApiKey).where(ApiKey.name == name, ApiKey.revoked_at.is_(None))
                           .values(role=checked).returning(ApiKey.id)).first()
    if done:
        events.record(session, "apikey.role_changed", actor=actor, name=name, role=checked)
    return done is not None


def revoke_key(session: Session, name: str, *, actor: str = "cli") -> bool:
    done = session.execute(update(ApiKey).where(ApiKey.name == name, ApiKey.revoked_at.is_(None))
                           .values(revoked_at=func.now()).returning(ApiKey.id)).first()
    if done:
        events.record(session, "apikey.revoked", actor=actor, name=name)
    return done is not None


def list_keys(session: Session) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).order_by(ApiKey.created_at)))


# API-key material from Secrets Manager: the stack generates the callers' key there; vidpipe keeps its hash.
PREFIX_LABEL = "secretsmgr"  # shown where vidpipe-made keys show their first characters; reveals nothing


def import_key(session: Session, name: str, secret: str, *, actor: str = "cli") -> str:
    """Store the key's hash under `name`: "created", "unchanged", or "rotated" (the secret's value changed)."""
    secret = secret.strip()
    if len(secret) < 20:
        raise InputError("the secret is too short to be an API key (20 characters at least)", code="weak_api_key")
    digest = _hash(secret)
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
