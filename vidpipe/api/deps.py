"""Request-scoped dependencies as `Annotated` aliases: the runtime, a database session, the caller."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Annotated

import anyio.to_thread
from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from vidpipe.api import sessions as web_sessions
from vidpipe.db import apikeys
from vidpipe.db.apikeys import KeyIdentity, Role
from vidpipe.errors import AuthError
from vidpipe.runtime import Runtime


# Async where no I/O happens: FastAPI runs every sync dependency on the thread pool, one hop each.
async def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def get_session(request: Request, rt: RuntimeDep) -> AsyncIterator[Session]:
    """One session per request; endpoints commit what they change, the rest is rolled back.

    Making a Session does no I/O (it connects on first use). Closing it may (ROLLBACK, return the connection),
    so it runs on a thread, under its own limiter: a request that holds a pooled connection must never wait
    for a thread held by a request that waits for a connection (a deadlock under load).
    """
    session = rt.db.session()
    try:
        yield session
    finally:
        await anyio.to_thread.run_sync(session.close, limiter=request.app.state.close_limiter)


SessionDep = Annotated[Session, Depends(get_session)]

# auto_error=False: a missing key is our AuthError (401, JSON shape, WWW-Authenticate), not FastAPI's 403.
_bearer = HTTPBearer(auto_error=False, description="`Authorization: Bearer <key>`")
_header_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="`X-API-Key: <key>`")
BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
HeaderKeyDep = Annotated[str | None, Depends(_header_key)]


def _verify(rt: Runtime, session: Session, secret: str | None, *, limit: bool = True) -> KeyIdentity:
    cached = rt.cache.keys.identity(secret)  # verified keys are trusted for cache_key_ttl_seconds
    if cached is not None:
        name, role = cached
        identity = KeyIdentity(name, apikeys.stored_role(role))
    else:
        identity = apikeys.verify(session, secret)
        session.commit()  # keeps last_used_at, even when the endpoint only reads
        rt.cache.keys.remember(secret or "", identity.name, identity.role)
    if limit:
        rt.cache.limiter.check(identity.name)
    return identity


def _from_cookie(request: Request, session: Session, rt: Runtime, *, limit: bool = True) -> KeyIdentity:
    """A browser session (vidpipe.api.sessions): state changes need X-CSRF-Token and the same origin (403)."""
    info = web_sessions.session_from_request(session, request)
    session.commit()  # end the read: an upload or a stream must not hold a pooled connection meanwhile
    if info is None:
        raise AuthError("the browser session has expired or ended: sign in again")
    web_sessions.check_csrf(request, info, rt.settings.public_base_url)
    if limit:
        rt.cache.limiter.check(info.key_name)
    return KeyIdentity(info.key_name, apikeys.stored_role(info.role))  # the session row joins the api_keys row


def identify(request: Request, session: Session, rt: Runtime, bearer: HTTPAuthorizationCredentials | None,
             header_key: str | None, *, limit: bool = True) -> KeyIdentity:
    """The API key (header) or browser session (cookie) behind a request, or 401 (429 over the rate limit).
    Keys are never read from the query string: URLs end up in access logs, histories and Referer headers."""
    secret = bearer.credentials if bearer else header_key
    if secret is None and web_sessions.COOKIE in request.cookies:
        return _from_cookie(request, session, rt, limit=limit)
    return _verify(rt, session, secret, limit=limit)


def _caller(needed: Role) -> Callable[..., str]:
    def caller(request: Request, session: SessionDep, rt: RuntimeDep, bearer: BearerDep,
               header_key: HeaderKeyDep) -> str:
        identity = identify(request, session, rt, bearer, header_key)
        apikeys.require_role(identity, needed)
        return f"key:{identity.name}"

    caller.__name__ = f"caller_{needed}"
    caller.__doc__ = f"The actor (`key:<name>`) of a key or session with the role {needed!r} or higher; 401 / 403."
    return caller


get_caller = _caller("read")
# The actor name of the caller, by the least role the route needs (vidpipe.db.apikeys.ROLES).
CallerDep = Annotated[str, Depends(get_caller)]  # read: metadata, search, playback
IngestCallerDep = Annotated[str, Depends(_caller("ingest"))]  # create assets, uploads
AdminCallerDep = Annotated[str, Depends(_caller("admin"))]  # edit, delete, reprocess, jobs, profiles


async def get_key_name(request: Request, rt: RuntimeDep, bearer: BearerDep, header_key: HeaderKeyDep) -> str:
    """The key's name without a thread hop when it was verified recently (the cached read path); the caller
    applies the rate limit itself, counted in the same cache round trip as its read. Every role may read."""
    secret = bearer.credentials if bearer else header_key
    name = rt.cache.keys.lookup(secret)
    if name is not None:
        return name

    def verify() -> str:
        with rt.db.session() as session:
            return identify(request, session, rt, bearer, header_key, limit=False).name

    return await anyio.to_thread.run_sync(verify)


KeyNameDep = Annotated[str, Depends(get_key_name)]
