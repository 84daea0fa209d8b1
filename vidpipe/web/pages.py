"""The console's pages (`/`, `/signin`, `/upload`, `/assets/{id}`, `/search`, `/jobs`, `/profiles`) and `/static`.

Pages are server-rendered shells; their data comes from the public `/v1` API in the browser (with the session
cookie and the CSRF header). The library grid and the asset page's scenes and machine tags are rendered here
from the same read model, so the first screen needs no extra round trip."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, FastAPI, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy import select

from vidpipe.api import views
from vidpipe.api.deps import RuntimeDep, SessionDep
from vidpipe.db.models import Segment
from vidpipe.errors import ForbiddenError, NotFoundError, VidpipeError
from vidpipe.profiles import PROFILES
from vidpipe.web import library, playback_links
from vidpipe.web.auth import safe_next, session_key_name, signin_url

log = logging.getLogger("vidpipe.web")
HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")

# Everything the pages load comes from this origin; hls.js runs its demuxer in a blob: worker.
SECURITY_HEADERS = {
    "Content-Security-Policy": ("default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
                                "worker-src 'self' blob:; script-src 'self'; style-src 'self'; object-src 'none'; "
                                "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


def with_playback_origin(policy: str, signer: Any) -> str:
    """The policy, letting players, posters and hls.js reach the origin of the signed playback URLs when that is
    another one (CloudFront, or a media host named by public_base_url); same-origin URLs need nothing more."""
    parts = urlsplit(getattr(signer, "base_url", "") or "")
    if not (parts.scheme in ("http", "https") and parts.netloc):
        return policy
    origin = f"{parts.scheme}://{parts.netloc}"
    directives = [d.strip() for d in policy.split(";") if d.strip()]
    if not any(d.startswith("connect-src ") for d in directives):
        directives.append("connect-src 'self'")
    return "; ".join(f"{d} {origin}" if d.split(" ", 1)[0] in ("img-src", "media-src", "connect-src") else d
                     for d in directives)


class SignInRequired(Exception):
    """Raised by a page for a visitor without a live session; becomes a redirect to the sign-in page."""


class PageRoute(APIRoute):
    """Pages never show a stack trace or a JSON error: errors become the error page, with security headers."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page_handler(request: Request) -> Response:
            try:
                response = await handler(request)
            except SignInRequired:
                response = RedirectResponse(signin_url(request), status_code=303)
            except RequestValidationError:
                response = error_page(request, 400, "This address has a parameter the page cannot use.")
            except VidpipeError as exc:
                response = error_page(request, exc.http_status, exc.message)
            except Exception:
                log.exception("web.page_failed", extra={"path": request.url.path})
                response = error_page(request, 500, "Something went wrong on our side. Try again in a moment.")
            response.headers.update(SECURITY_HEADERS)
            if response.headers.get("X-Frame-Policy") == "embed":  # set by embed_page: may be framed
                del response.headers["X-Frame-Policy"]
                del response.headers["X-Frame-Options"]
                response.headers.update(EMBED_HEADERS)
            runtime = getattr(request.app.state, "runtime", None)
            if runtime is not None:
                response.headers["Content-Security-Policy"] = with_playback_origin(
                    response.headers["Content-Security-Policy"], runtime.playback)
            return response

        return page_handler


router = APIRouter(route_class=PageRoute, include_in_schema=False)


def error_page(request: Request, status: int, message: str) -> HTMLResponse:
    return templates.TemplateResponse(request, "error.html", {"status": status, "message": message, "nav": None,
                                                              "user": None}, status_code=status)


def _user(session: Any, request: Request) -> str:
    name = session_key_name(session, request)
    if name is None:
        raise SignInRequired
    return name


def _render(request: Request, name: str, user: str, nav: str, **context: Any) -> HTMLResponse:
    return templates.TemplateResponse(request, name, {"user": user, "nav": nav, **context})


@router.get("/signin", response_class=HTMLResponse)
def signin(request: Request, next: Annotated[str | None, Query(max_length=2000)] = None,  # noqa: A002
           error: Annotated[str | None, Query(max_length=300)] = None) -> HTMLResponse:
    """The sign-in form; `error` is the reason of a failed form post (POST /session redirects back here)."""
    return templates.TemplateResponse(request, "signin.html", {"next": safe_next(next), "error": error, "user": None,
                                                               "nav": None})


@router.get("/", response_class=HTMLResponse)
def library_page(
    request: Request, session: SessionDep, rt: RuntimeDep,
    status: Annotated[str | None, Query(max_length=16)] = None,
    min_duration: Annotated[str | None, Query(max_length=16)] = None,
    max_duration: Annotated[str | None, Query(max_length=16)] = None,
    min_height: Annotated[str | None, Query(max_length=8)] = None,
    tag: Annotated[str | None, Query(max_length=64)] = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    sort: Annotated[str, Query(max_length=16)] = "newest",
    cursor: Annotated[str | None, Query(max_length=400)] = None,
) -> HTMLResponse:
    user = _user(session, request)
    problems: list[str] = []
    query = library.LibraryQuery(status=status or None, tag=(tag or "").strip() or None, q=(q or "").strip() or None,
                                 sort=sort if sort in library.SORTS else "newest", cursor=cursor or None)
    query.min_duration = _number(min_duration, "Minimum duration", problems, float)
    query.max_duration = _number(max_duration, "Maximum duration", problems, float)
    query.min_height = _number(min_height, "Resolution", problems, int)
    try:
        page = library.load_page(session, query, rt.settings.public_base_url, rt.playback)
    except library.BadCursor as exc:
        problems.append(str(exc))
        query.cursor = None
        page = library.load_page(session, query, rt.settings.public_base_url, rt.playback)
    params = {k: v for k, v in request.query_params.items() if k != "cursor" and v}
    return _render(request, "library.html", user, "library", page=page, query=query, problems=problems,
                   params=params, statuses=library.STATUSES, sorts=library.SORTS)


def _number(raw: str | None, label: str, problems: list[str], kind: type) -> Any:
    if raw is None or raw.strip() == "":
        return None
    try:
        value = kind(raw)
    except ValueError:
        problems.append(f"{label} must be a number.")
        return None
    if value < 0:
        problems.append(f"{label} cannot be negative.")
        return None
    return value


@router.get("/upload", response_class=HTMLResponse)
def upload_page(request: Request, session: SessionDep) -> HTMLResponse:
    return _render(request, "upload.html", _user(session, request), "upload", builtin_profiles=sorted(PROFILES))


@router.get("/assets/{asset_id}", response_class=HTMLResponse)
def asset_page(asset_id: str, request: Request, session: SessionDep, rt: RuntimeDep,
               share_ttl: Annotated[str | None, Query(max_length=12)] = None) -> HTMLResponse:
    user = _user(session, request)
    try:
        parsed = uuid.UUID(asset_id)
    except ValueError:
        raise NotFoundError("There is no asset with that id.") from None
    asset = views.load_asset(session, parsed, rt.settings.public_base_url, rt.playback)
    # Each scene's picture is its own frame (a moment into the scene, past any transition), not a key frame.
    scenes = [{"start": s.start_s, "end": s.end_s,
               "thumbnail_url": f"/v1/assets/{parsed}/thumbnail.jpg?time={scene_still_time(s.start_s, s.end_s):.3f}"
                                "&width=192"}
              for s in session.scalars(select(Segment).where(Segment.asset_id == parsed, Segment.kind == "scene")
                                       .order_by(Segment.start_s))]
    tags = library.machine_tags(session, [parsed], per_asset=12).get(parsed, [])
    base = rt.playback.base_url  # where players and the embed page are served (the CDN's domain in AWS)
    # How long the shared links live: the server's default, or a longer choice for an embed that stays up.
    default = rt.playback.ttl_seconds
    lifetimes = {str(default): (f"{default // 3600} hours" if default % 3600 == 0 else f"{default // 60} minutes")
                 + " (default)", **SHARE_LIFETIMES}
    ttl = int(share_ttl) if share_ttl in lifetimes else rt.playback.ttl_seconds
    share = {"playback_url": playback_links.playback_url(parsed, rt.playback, ttl) if asset.hls_master_url else None,
             "embed_snippet": playback_links.embed_snippet(parsed, rt.playback, base,
                                                           asset.title or asset.original_name, ttl),
             "expires_at": datetime.fromtimestamp(rt.playback.expiry(ttl), UTC), "ttl": str(ttl),
             "lifetimes": lifetimes}
    return _render(request, "asset.html", user, "library", asset=asset, scenes=scenes, machine_tags=tags, share=share)


# Longer lives a shared link may be given from the asset page (the API's playback endpoint allows up to 7 days).
SHARE_LIFETIMES = {str(24 * 3600): "1 day", str(7 * 24 * 3600): "7 days"}


def scene_still_time(start: float, end: float) -> float:
    return start + min(0.5, max(0.0, end - start) / 2)


# The embed page is meant to be framed by other sites: its own frame policy.
EMBED_HEADERS = {"Content-Security-Policy": SECURITY_HEADERS["Content-Security-Policy"].replace(
    "frame-ancestors 'none'", "frame-ancestors *")}


@router.get("/embed/{asset_id}", response_class=HTMLResponse)
def embed_page(asset_id: uuid.UUID, request: Request, session: SessionDep, rt: RuntimeDep) -> HTMLResponse:
    """Just the player, for anyone holding the signed link (no session: an iframe on another site has none).
    The link's grant is checked before anything is looked up (vidpipe.web.playback_links)."""
    try:
        source = playback_links.embedded_playback_url(asset_id, rt.playback, request.query_params)
        asset = views.load_asset(session, asset_id, rt.settings.public_base_url, rt.playback)
        context = {"title": asset.title or asset.original_name or "video", "playback_url": source,
                   "poster_url": asset.playback.poster_url if asset.playback else None, "error": None}
        status = 200
    except (ForbiddenError, NotFoundError) as exc:
        # Said inside the frame (the error page may not be framed), without telling whether the asset exists.
        message = exc.message if isinstance(exc, ForbiddenError) else "This video is no longer available."
        context, status = {"title": "video", "playback_url": None, "poster_url": None, "error": message}, \
            exc.http_status
    response = templates.TemplateResponse(request, "embed.html", context, status_code=status)
    response.headers["X-Frame-Policy"] = "embed"  # read (and removed) by PageRoute, which sets the frame policy
    return response


@router.get("/search", response_class=HTMLResponse)
def search_page(request: Request, session: SessionDep) -> HTMLResponse:
    return _render(request, "search.html", _user(session, request), "search")


@router.get("/jobs", response_class=HTMLResponse)
def jobs_page(request: Request, session: SessionDep) -> HTMLResponse:
    return _render(request, "jobs.html", _user(session, request), "jobs")


@router.get("/profiles", response_class=HTMLResponse)
def profiles_page(request: Request, session: SessionDep) -> HTMLResponse:
    from vidpipe.analysis.registry import analyzer_names  # the analyzers a profile may choose from

    return _render(request, "profiles.html", _user(session, request), "profiles", analyzers=analyzer_names())


def install(app: FastAPI) -> None:
    """Mount the pages at `/` and their files at `/static`."""
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
