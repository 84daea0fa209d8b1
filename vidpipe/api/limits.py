"""Request size limits: the header block (in the HTTP protocol, before anything is buffered) and every body,
chunked or with Content-Length (ASGI middleware), so no request can make the server hold more than it allows.

- `BoundedHttpTools`: uvicorn's httptools protocol with a cap on the request line + headers. httptools itself
  has none: it buffers a header value of any size before calling back (a 100 MB header was read whole).
  Over the cap: `431` and the connection is closed, having read at most one socket read past the cap.
- `BodyLimit`: 413 when Content-Length says too much (before reading a byte), or as soon as the bytes
  received pass the route's cap. Uploads get the upload limit; the sign-in form and JSON routes small ones.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vidpipe.errors import LimitExceededError
from vidpipe.settings import Settings

FORM_OVERHEAD_BYTES = 64 * 1024  # multipart framing and the text fields around an uploaded file
SIGN_IN_BYTES = 16 * 1024

try:  # uvicorn[standard] brings httptools; without it uvicorn's h11 protocol enforces the cap itself
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # pragma: no cover
    HttpToolsProtocol = None  # type: ignore[assignment,misc]  # absent: None stands for "use h11"

_431 = json.dumps({"error": {"code": "header_too_large",
                             "message": "the request line and headers are larger than the server accepts"}}).encode()


def http_protocol(max_head_bytes: int) -> type | str:
    """The protocol class for uvicorn.Config(http=...): httptools with the cap, else h11 (see server.py)."""
    if HttpToolsProtocol is None:  # pragma: no cover
        return "h11"
    return type("BoundedHttpTools", (BoundedHttpTools,), {"max_head_bytes": max_head_bytes})


if HttpToolsProtocol is not None:

    class BoundedHttpTools(HttpToolsProtocol):
        max_head_bytes = 16 * 1024

        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self._head_bytes = 0  # of the current request's head, so far
            self._head_tail = b""  # the last bytes seen, for a terminator split across reads
            self._in_head = True

        def data_received(self, data: bytes) -> None:
            if self._in_head:
                window = self._head_tail + data
                end = window.find(b"\r\n\r\n")
                if end >= 0:  # the head ends in this read: count it up to there
                    size = self._head_bytes - len(self._head_tail) + end + 4
                    self._in_head = False  # until this message completes
                else:
                    size = self._head_bytes + len(data)
                if size > self.max_head_bytes:
                    self._refuse()
                    return
                self._head_bytes, self._head_tail = size, window[-3:]
            super().data_received(data)

        def on_message_complete(self) -> None:
            super().on_message_complete()
            self._in_head, self._head_bytes, self._head_tail = True, 0, b""

        def _refuse(self) -> None:
            self.logger.warning("Request header block over %d bytes refused.", self.max_head_bytes)
            self.transport.write(b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\n"
                                 b"content-length: " + str(len(_431)).encode() + b"\r\nconnection: close\r\n\r\n"
                                 + _431)
            self.transport.close()


# --- bodies ---------------------------------------------------------------------------------------------------
_UPLOAD_ROUTES = (("POST", re.compile(r"^/v1/assets/?$")), ("PATCH", re.compile(r"^/v1/uploads/[^/]+/?$")))


def body_limit(settings: Settings, method: str, path: str) -> int:
    """The most bytes a request to `method path` may send."""
    if any(method == m and pattern.match(path) for m, pattern in _UPLOAD_ROUTES):
        return settings.limits.max_upload_bytes + FORM_OVERHEAD_BYTES
    if path.rstrip("/") in ("/session", "/session/logout"):
        return SIGN_IN_BYTES
    return settings.max_body_bytes


class BodyTooLarge(LimitExceededError):
    """413 `limit_exceeded`, like every size limit."""


class BodyLimit:
    """Pure ASGI middleware; `limit_of(method, path)` is read per request (settings may change in tests)."""

    def __init__(self, app: ASGIApp, limit_of: Callable[[str, str], int]) -> None:
        self.app = app
        self.limit_of = limit_of

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_of(scope["method"], scope["path"])
        declared = next((v for k, v in scope["headers"] if k == b"content-length"), None)
        if declared is not None and declared.isdigit() and (len(declared) > 19 or int(declared) > limit):
            await _reply_413(send, limit)
            return
        received = 0
        exceeded = started = False

        async def limited_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise BodyTooLarge(f"the request body is larger than the limit of {limit} bytes")
            return message

        async def guarded_send(message: Message) -> None:
            """Once over the limit, the answer is 413 whatever the app made of the error (FastAPI turns errors
            while parsing a body into 400)."""
            nonlocal started
            if exceeded:
                if message["type"] == "http.response.start" and not started:
                    started = True
                    await _reply_413(send, limit)
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except BodyTooLarge:  # raised where no route's error handler saw it
            if started:
                raise
            await _reply_413(send, limit)


async def _reply_413(send: Send, limit: int) -> None:
    body = json.dumps({"error": {"code": "limit_exceeded",
                                 "message": f"the request body is larger than the limit of {limit} bytes"}}).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
