"""Who is looking at a page: the browser session behind the `vidpipe_session` cookie, or nobody.

Pages only need a yes/no (the data comes from `/v1`, which checks the session and CSRF itself); a page
request without a live session is redirected to the sign-in page."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import Request
from sqlalchemy.orm import Session

from vidpipe.api import sessions


def session_key_name(session: Session, request: Request) -> str | None:
    """The API key name of a live browser session, or None (no cookie, unknown, expired or key revoked)."""
    info = sessions.session_from_request(session, request)
    return info.key_name if info else None


def signin_url(request: Request) -> str:
    """`/signin?next=<this page>`: only a local path goes into `next` (never an open redirect)."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return f"/signin?next={quote(target, safe='')}"


def safe_next(value: str | None) -> str:
    """A `next` parameter reduced to a local path ("/" when it is anything else)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value
