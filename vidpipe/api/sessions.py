"""Browser sessions for the web console: sign in with an API key, get an HttpOnly cookie and a CSRF token.

Only the SHA-256 of the session id is stored (a leaked table signs nobody in). With the cookie, every
state-changing `/v1` request must carry `X-CSRF-Token` (the session's token) and come from this origin
(`Origin` / `Sec-Fetch-Site`); otherwise 403 `csrf_failed`. API keys in headers work exactly as before.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated
from urllib.parse import quote, urlsplit

import anyio.to_thread
from fastapi import APIRouter, Depends, Request, Response, status
from fastapi.responses import JSONResponse, RedirectResponse
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from vidpipe.api.schemas import ErrorBody
from vidpipe.db import apikeys, events
from vidpipe.db.database import affected_rows
from vidpipe.db.models import ApiKey
from vidpipe.db.models.web import WebSession
from vidpipe.errors import AuthError, InputError, VidpipeError
from vidpipe.runtime import Runtime

COOKIE = "vidpipe_session"
CSRF_HEADER = "x-csrf-token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MAX_FORM_BYTES = 16 * 1024


class CsrfError(VidpipeError):
    code = "csrf_failed"
    http_status = 403


@dataclass(frozen=True)
class BrowserSession:
    key_name: str
    csrf_token: str
    expires_at: datetime
    role: str = "read"  # the key's role, as of this request (a session can do what its key can)

    @property
    def actor(self) -> str:
        return f"key:{self.key_name}"


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def create(db: Session, key_name: str, hours: float, role: str = "read") -> tuple[str, BrowserSession]:
    """A new session for `key_name`: (the cookie value, the session). Expired sessions are swept here."""
    db.execute(delete(WebSession).where(WebSession.expires_at < datetime.now(UTC)))
    session_id = secrets.token_urlsafe(32)
    info = BrowserSession(key_name, secrets.token_urlsafe(32), datetime.now(UTC) + timedelta(hours=hours), role)
    db.add(WebSession(id_hash=_hash(session_id), key_name=key_name, csrf_token=info.csrf_token,
                      expires_at=info.expires_at))
    events.record(db, "session.created", actor=info.actor)
    return session_id, info


def lookup(db: Session, session_id: str | None) -> BrowserSession | None:
    """The live session behind a cookie value; None when unknown, expired or its API key was revoked."""
    if not session_id or len(session_id) > 200:
        return None
    row = db.execute(
        select(WebSession.key_name, WebSession.csrf_token, WebSession.expires_at, ApiKey.role)
        .join(ApiKey, ApiKey.name == WebSession.key_name)
        .where(WebSession.id_hash == _hash(session_id), WebSession.expires_at > datetime.now(UTC),
               ApiKey.revoked_at.is_(None))).first()
    return BrowserSession(row.key_name, row.csrf_token, row.expires_at, row.role) if row else None


def end(db: Session, session_id: str | None) -> bool:
    if not session_id:
        return False
    return affected_rows(db.execute(delete(WebSession).where(WebSession.id_hash == _hash(session_id)))) > 0


def _own_origins(request: Request, public_base_url: str | None) -> set[str]:
    """host[:port] this request was addressed to (and the configured public URL's)."""
    own = {request.headers.get("host", "").lower()}
    if public_base_url:
        own.add(urlsplit(public_base_url).netloc.lower())
    return own - {""}


def check_origin(request: Request, public_base_url: str | None, *, required: bool) -> None:
    """Refuse cross-site requests: `Sec-Fetch-Site` must be same-origin (or none: typed by the user) and
    `Origin`, when sent, must be this host. With `required`, one of the two must be present."""
    site = request.headers.get("sec-fetch-site")
    origin = request.headers.get("origin")
    if site is not None and site not in ("same-origin", "none"):
        raise CsrfError(f"cross-site request refused (Sec-Fetch-Site: {site})")
    if origin is not None:
        if urlsplit(origin).netloc.lower() not in _own_origins(request, public_base_url):
            raise CsrfError(f"cross-origin request refused (Origin: {origin})")
    elif site is None and required:
        raise CsrfError("a browser session's request must say where it comes from (Origin or Sec-Fetch-Site)")


def check_csrf(request: Request, info: BrowserSession, public_base_url: str | None) -> None:
    """For cookie-authenticated requests: state changes need the CSRF header and a same-origin request."""
    if request.method not in UNSAFE_METHODS:
        return
    token = request.headers.get(CSRF_HEADER, "")
    if not token or not hmac.compare_digest(token.encode(), info.csrf_token.encode()):
        raise CsrfError("missing or wrong X-CSRF-Token header")
    check_origin(request, public_base_url, required=True)


def session_from_request(db: Session, request: Request) -> BrowserSession | None:
    return lookup(db, request.cookies.get(COOKIE))


def get_web_session(request: Request) -> BrowserSession | None:
    """For page routes: the signed-in browser session, or None (no CSRF check: pages only read)."""
    if not request.cookies.get(COOKIE):
        return None
    with _runtime(request).db.session() as db:
        return session_from_request(db, request)


WebSessionDep = Annotated[BrowserSession | None, Depends(get_web_session)]


# --- routes (no vidpipe.api.deps here: deps uses this module) -----------------------------------------------
def _runtime(request: Request) -> Runtime:
    return request.app.state.runtime


router = APIRouter(prefix="/session", tags=["session"])


def _safe_next(value: str | None) -> str:
    if not isinstance(value, str) or not value.startswith("/") or value.startswith("//") or "\\" in value \
            or any(ord(c) < 32 for c in value):
        return "/"
    return value


async def _credentials(request: Request) -> tuple[str | None, str, bool]:
    """(api_key, next, is_form) from a form post or a JSON body."""
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_FORM_BYTES:
        raise InputError("sign-in body too large", code="invalid_input")
    if content_type == "application/json":
        try:
            body = await request.json()
        except ValueError:
            raise InputError("the body is not valid JSON") from None
        if not isinstance(body, dict):
            raise InputError("expected a JSON object {\"api_key\": ...}")
        key = body.get("api_key")
        return (key if isinstance(key, str) else None), _safe_next(body.get("next")), False
    if content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.form(max_files=0, max_fields=10)
        key = form.get("api_key")
        nxt = form.get("next") or request.query_params.get("next")
        return (key if isinstance(key, str) else None), _safe_next(nxt if isinstance(nxt, str) else None), True
    raise InputError("send a form (api_key=...) or JSON {\"api_key\": ...}", code="unsupported_content_type")


def _set_cookie(response: Response, request: Request, rt: Runtime, session_id: str, info: BrowserSession) -> None:
    secure = rt.settings.cookie_secure or request.url.scheme == "https" \
        or request.headers.get("x-forwarded-proto", "").lower() == "https"
    response.set_cookie(COOKIE, session_id, max_age=int((info.expires_at - datetime.now(UTC)).total_seconds()),
                        path="/", httponly=True, samesite="lax", secure=secure)


# Any strings: a wrong key is 401 (form: back to the sign-in page), an unusable `next` becomes "/".
_SIGN_IN = {"type": "object", "properties": {"api_key": {"type": "string"}, "next": {"type": "string"}}}
_SIGN_IN_BODY = {"required": True, "content": {"application/json": {"schema": {**_SIGN_IN, "required": ["api_key"]}},
                                               "application/x-www-form-urlencoded": {"schema": _SIGN_IN}}}


@router.post("", responses={200: {"description": "JSON sign-in: {\"csrf_token\"}"},
                            303: {"description": "Form sign-in: to `next`"}, 401: {"model": ErrorBody}},
             openapi_extra={"requestBody": _SIGN_IN_BODY})
async def sign_in(request: Request) -> Response:
    """Sign in with an API key (form field or JSON `api_key`); sets the HttpOnly `vidpipe_session` cookie."""
    rt = _runtime(request)
    check_origin(request, rt.settings.public_base_url, required=False)  # no login CSRF from other sites
    key, nxt, is_form = await _credentials(request)

    def verify_and_create() -> tuple[str, BrowserSession]:
        with rt.db.session() as db, db.begin():
            identity = apikeys.verify(db, key)
            return create(db, identity.name, rt.settings.session_hours, identity.role)

    try:
        session_id, info = await anyio.to_thread.run_sync(verify_and_create)
    except AuthError as exc:
        if not is_form:
            raise
        return RedirectResponse(f"/signin?error={quote(exc.message)}&next={quote(nxt, safe='')}",
                                status_code=status.HTTP_303_SEE_OTHER)
    response: Response = (RedirectResponse(nxt, status_code=status.HTTP_303_SEE_OTHER) if is_form
                          else JSONResponse({"csrf_token": info.csrf_token, "key_name": info.key_name,
                                             "role": info.role, "expires_at": info.expires_at.isoformat()}))
    _set_cookie(response, request, rt, session_id, info)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("", responses={200: {"description": "{\"key_name\", \"csrf_token\", \"expires_at\"}"},
                           401: {"model": ErrorBody}})
def current(request: Request) -> JSONResponse:
    """Who is signed in, and the CSRF token the pages send as `X-CSRF-Token`."""
    info = get_web_session(request)
    if info is None:
        raise AuthError("not signed in")
    return JSONResponse({"key_name": info.key_name, "role": info.role, "csrf_token": info.csrf_token,
                         "expires_at": info.expires_at.isoformat()}, headers={"Cache-Control": "no-store"})


def _sign_out(request: Request) -> Response:
    rt = _runtime(request)
    session_id = request.cookies.get(COOKIE)
    with rt.db.session() as db, db.begin():
        info = lookup(db, session_id)
        if info is None:
            raise AuthError("not signed in")
        check_csrf(request, info, rt.settings.public_base_url)
        end(db, session_id)
        events.record(db, "session.ended", actor=info.actor)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="lax")
    return response


@router.delete("", status_code=204, responses={401: {"model": ErrorBody}, 403: {"model": ErrorBody}})
def sign_out(request: Request) -> Response:
    """End the session (needs `X-CSRF-Token`); the cookie is cleared."""
    return _sign_out(request)


@router.post("/logout", status_code=204, responses={401: {"model": ErrorBody}, 403: {"model": ErrorBody}})
def logout(request: Request) -> Response:
    """The same as DELETE /session, for clients that only POST."""
    return _sign_out(request)
