"""Who is looking at a page: the browser session behind the `vidpipe_session` cookie, or nobody.

Pages only need a yes/no (the data comes from `/v1`, which checks the session and CSRF itself); a page
request without a live session is redirected to the sign-in page."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from urllib.parse import quote

from fastapi import Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from vidpipe.store.web_models import WebSession

COOKIE = "vidpipe_session"


def session_key_name(session: Session, request: Request) -> str | None:
    """The API key name of a live browser session, or None (no cookie, unknown or expired)."""
    cookie = request.cookies.get(COOKIE)
    if not cookie:
        return None
    digest = hashlib.sha256(cookie.encode()).hexdigest()
    return session.scalar(select(WebSession.key_name).where(WebSession.id_hash == digest,
                                                            WebSession.expires_at > datetime.now(UTC)))


def signin_url(request: Request) -> str:
    """`/signin?next=<this page>`: only a local path goes into `next` (never an open redirect)."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return f"/signin?next={quote(target, safe='')}"


def safe_next(value: str | None) -> str:
    """A `next` parameter reduced to a local path ("/" when it is anything else)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value
