"""Run the API under uvicorn, programmatically (the CLI's `serve` and `up`)."""

from __future__ import annotations

import uvicorn

from vidpipe.api.main import create_app
from vidpipe.runtime import Runtime


def serve(runtime: Runtime, host: str | None = None, port: int | None = None, *, log_level: str | None = None,
          access_log: bool = True) -> None:
    """Serve until interrupted. host/port default to settings.api_host/api_port."""
    settings = runtime.settings
    config = uvicorn.Config(
        create_app(runtime),
        host=host or settings.api_host,
        port=port if port is not None else settings.api_port,
        log_level=(log_level or settings.log_level).lower(),
        access_log=access_log,
        proxy_headers=True,
        server_header=False,
        # Logging is configured by the entry point; uvicorn must not replace it.
        log_config=None,
    )
    uvicorn.Server(config).run()
