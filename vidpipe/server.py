"""The HTTP server: the API and the web console in one ASGI app, run under uvicorn (the CLI's `serve` and `up`)."""

from __future__ import annotations

import logging
import re
from typing import Any

import uvicorn
from fastapi import FastAPI

from vidpipe.api.limits import http_protocol
from vidpipe.api.main import create_api
from vidpipe.runtime import Runtime
from vidpipe.settings import Settings
from vidpipe.web import pages


def create_app(runtime: Runtime) -> FastAPI:
    """The API with the web console."""
    return create_api(runtime, console=pages.install)


_PLAY_TOKEN = re.compile(r"(/v1/play/)[^/?\s]+")
_EMBED_GRANT = re.compile(r"(/embed/[^/?\s]+\?)\S+")  # the embed page's address carries the same grant


class RedactPlaybackTokens(logging.Filter):
    """Access-log lines show `/v1/play/<token>/...` as `/v1/play/-/...` and `/embed/<id>?<grant>` as
    `/embed/<id>?-`: a signed URL is a credential for its lifetime, so it stays out of logs like API keys do
    (which are never in URLs at all)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_EMBED_GRANT.sub(r"\1-", _PLAY_TOKEN.sub(r"\1-", a)) if isinstance(a, str) else a
                                for a in record.args)
        return True


def uvicorn_config(app: Any, settings: Settings, host: str, port: int, **kwargs: Any) -> uvicorn.Config:
    """The one uvicorn configuration (`serve` and `up`): header blocks capped at settings.max_header_bytes
    (httptools through vidpipe.api.limits; h11 through its own incomplete-event limit)."""
    return uvicorn.Config(app, host=host, port=port, http=http_protocol(settings.max_header_bytes),
                          h11_max_incomplete_event_size=settings.max_header_bytes, proxy_headers=True,
                          server_header=False, log_config=None, **kwargs)


def serve(runtime: Runtime, host: str | None = None, port: int | None = None, *, log_level: str | None = None,
          access_log: bool = True) -> None:
    """Serve until interrupted. host/port default to settings.api_host/api_port."""
    settings = runtime.settings
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactPlaybackTokens) for f in access.filters):
        access.addFilter(RedactPlaybackTokens())
    # log_config=None (in uvicorn_config): logging is configured by the entry point; uvicorn must not replace it.
    config = uvicorn_config(create_app(runtime), settings, host or settings.api_host,
                            port if port is not None else settings.api_port,
                            log_level=(log_level or settings.log_level).lower(), access_log=access_log)
    uvicorn.Server(config).run()
