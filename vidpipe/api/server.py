"""Run the API under uvicorn, programmatically (the CLI's `serve` and `up`)."""

from __future__ import annotations

from typing import Any

import uvicorn

from vidpipe.api.limits import http_protocol
from vidpipe.api.main import create_app
from vidpipe.runtime import Runtime
from vidpipe.settings import Settings


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
    # log_config=None (in uvicorn_config): logging is configured by the entry point; uvicorn must not replace it.
    config = uvicorn_config(create_app(runtime), settings, host or settings.api_host,
                            port if port is not None else settings.api_port,
                            log_level=(log_level or settings.log_level).lower(), access_log=access_log)
    uvicorn.Server(config).run()
