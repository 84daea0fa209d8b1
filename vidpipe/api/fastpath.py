"""The hot read path as plain ASGI, in front of FastAPI: `GET /v1/assets/{id}` answered from the cache with one
round trip when the key was verified recently and the value is cached. Anything else (a miss, an unknown key,
a query string, an error) goes on to the FastAPI route, which does the same with full validation. Both render the
cached entry with vidpipe.cache.http.entry_answer, so the fast lane only ever serves what the route would serve.

FastAPI's routing and dependency resolution cost about 200 us of CPU per request; this costs a few.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from vidpipe.cache.http import entry_answer
from vidpipe.cache.ratelimit import RateLimitedError
from vidpipe.cache.reads import EPOCH_KEY, asset_key, parse

log = logging.getLogger(__name__)

PREFIX = "/v1/assets/"
COUNTED = "vidpipe.rate_counted"  # scope key: this request was counted for the rate limit already


class FastAssetReads:
    def __init__(self, app: ASGIApp, runtime: Any) -> None:
        self.app = app
        self.rt = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if (scope["type"] != "http" or scope["method"] != "GET" or not path.startswith(PREFIX)
                or len(path) != len(PREFIX) + 36 or scope.get("query_string")):
            await self.app(scope, receive, send)
            return
        try:
            answer = await self._answer(path, scope)
        except Exception:  # never worse than the route: it answers instead (and reports what is wrong)
            log.exception("cache.fastpath_failed", extra={"path": path})
            answer = None
        if answer is None:
            await self.app(scope, receive, send)
        else:
            await _respond(send, *answer)

    async def _answer(self, path: str, scope: Scope) -> tuple[int, bytes, list[tuple[bytes, bytes]]] | None:
        """(status, body, headers) from the cache, or None: the route answers."""
        try:
            asset_id = uuid.UUID(path[len(PREFIX):])
        except ValueError:
            return None
        secret = if_none_match = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                scheme, _, credentials = value.decode("latin-1").partition(" ")
                if scheme.lower() == "bearer":
                    secret = credentials.strip()
            elif name == b"x-api-key" and secret is None:
                secret = value.decode("latin-1")
            elif name == b"if-none-match":
                if_none_match = value.decode("latin-1")
        caching = self.rt.cache
        key_name = caching.keys.lookup(secret)
        if key_name is None:  # unknown or not verified lately: the route verifies it (and remembers it)
            return None
        key, version = asset_key(asset_id, self.rt.settings.public_base_url)
        limiter = caching.limiter
        counter = limiter.counter(key_name) if limiter.enabled else None
        values, count = await caching.cache.hot_read([key, version, EPOCH_KEY], counter, 61)
        try:
            limiter.check(key_name, count)
        except RateLimitedError as exc:
            body = json.dumps({"error": {"code": exc.code, "message": exc.message}}).encode()
            return 429, body, [(b"retry-after", str(exc.retry_after).encode())]
        entry = parse(values)
        if entry is None:
            scope[COUNTED] = True
            return None
        caching.views.count(asset_id)
        status, body, headers = entry_answer(entry, if_none_match)  # exactly what the route would answer
        return status, body, [(name.lower().encode(), value.encode()) for name, value in headers.items()]


async def _respond(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    if status != 304:  # which has no body
        headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
