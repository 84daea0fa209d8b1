"""Streaming multipart upload: request body -> python-multipart's streaming parser -> media store staging.

One worker thread per upload pulls body chunks from the event loop (`anyio.from_thread.run`), feeds them
to the parser and writes file-part bytes straight into `blobs.open_staging()` inside `ingest()`. The pull
is the backpressure: the next chunk is read off the socket only when the previous one is on disk, so
memory stays at about one chunk per upload whatever the file size. Nothing is spooled to a temp file.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import anyio
import anyio.from_thread
import anyio.to_thread
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, MultipartState, parse_options_header
from starlette.requests import ClientDisconnect, Request

from vidpipe.errors import InputError, LimitExceededError
from vidpipe.ingest.service import IngestRequest, IngestResult, ingest
from vidpipe.mediastore.base import Staging
from vidpipe.runtime import Runtime

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks  # a TypedDict of type checking only

FILE_FIELD = "file"
# Room for the multipart framing and the small text fields around the file.
FORM_OVERHEAD_BYTES = 64 * 1024
_TEXT_FIELDS = ("title", "description", "tags", "profile", "priority")

Pull = Callable[[], bytes | None]


def check_declared_length(request: Request, max_bytes: int) -> None:
    """413 before reading a byte when Content-Length already says too much."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise LimitExceededError(f"request body of {declared} bytes is larger than the limit of {max_bytes} bytes")


def boundary_of(content_type: str) -> bytes:
    kind, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise InputError("expected multipart/form-data with a boundary", code="invalid_multipart")
    return boundary


async def receive_upload(rt: Runtime, request: Request, req: IngestRequest, limiter: anyio.CapacityLimiter
                         ) -> IngestResult:
    """Stream the multipart body of `request` into a new (or duplicate) asset."""
    max_file = rt.settings.limits.max_upload_bytes
    check_declared_length(request, max_file + FORM_OVERHEAD_BYTES)
    boundary = boundary_of(request.headers.get("content-type", ""))
    body = request.stream()

    async def next_chunk() -> bytes | None:
        try:
            return await anext(body)
        except StopAsyncIteration:
            return None
        except ClientDisconnect:
            raise InputError("the client went away before the upload finished", code="client_disconnected") from None

    def pull() -> bytes | None:
        return anyio.from_thread.run(next_chunk)

    return await anyio.to_thread.run_sync(_ingest_form, rt, boundary, pull, req, max_file + FORM_OVERHEAD_BYTES,
                                          limiter=limiter)


class _Form:
    """Parser callbacks: text fields are collected, file bytes go to `sink` (buffered until it exists)."""

    def __init__(self) -> None:
        self.fields: dict[str, str] = {}
        self.file_seen = False
        self.filename = ""
        self.content_type: str | None = None
        self.sink: Callable[[bytes | memoryview], None] | None = None
        self.pending: list[bytes] = []
        self.ended = False
        self._headers: dict[str, bytes] = {}
        self._field = b""
        self._value = b""
        self._name: str | None = None
        self._in_file = False
        self._text = bytearray()

    def callbacks(self) -> MultipartCallbacks:
        return {"on_part_begin": self._part_begin, "on_header_field": self._header_field,
                "on_header_value": self._header_value, "on_header_end": self._header_end,
                "on_headers_finished": self._headers_finished, "on_part_data": self._part_data,
                "on_part_end": self._part_end, "on_end": self._end}

    def _part_begin(self) -> None:
        self._headers, self._field, self._value, self._text = {}, b"", b"", bytearray()

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._field.decode("latin-1").lower()] = self._value
        self._field, self._value = b"", b""

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get("content-disposition", b"").decode("latin-1"))
        self._name = options.get(b"name", b"").decode("utf-8", errors="replace")
        self._in_file = self._name == FILE_FIELD
        if self._in_file:
            if self.file_seen:
                raise InputError("send exactly one 'file' part", code="invalid_multipart")
            self.file_seen = True
            self.filename = options.get(b"filename", b"").decode("utf-8", errors="replace")
            part_type = self._headers.get("content-type", b"").decode("latin-1").strip()
            self.content_type = part_type[:200] or None

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._in_file:
            if self.sink is not None:
                self.sink(memoryview(data)[start:end])
            else:
                self.pending.append(data[start:end])
        else:
            self._text += data[start:end]
            if len(self._text) > FORM_OVERHEAD_BYTES // 2:
                raise InputError(f"form field {self._name!r} is too long", code="invalid_multipart")

    def _part_end(self) -> None:
        if not self._in_file and self._name in _TEXT_FIELDS:
            try:
                self.fields[self._name] = self._text.decode("utf-8")
            except UnicodeDecodeError:
                raise InputError(f"form field {self._name!r} is not UTF-8", code="invalid_multipart") from None
        self._in_file = False

    def _end(self) -> None:
        self.ended = True


def _ingest_form(rt: Runtime, boundary: bytes, pull: Pull, req: IngestRequest, max_body: int) -> IngestResult:
    """Worker thread: parse up to the file part, then let ingest() stream the rest into staging."""
    form = _Form()
    parser = MultipartParser(boundary, callbacks=form.callbacks())
    received = 0

    def feed() -> bool:
        """Parse one more chunk; False at the end of the body."""
        nonlocal received
        chunk = pull()
        if chunk is None:
            return False
        received += len(chunk)
        if received > max_body:
            raise LimitExceededError(f"upload is larger than the limit of {rt.settings.limits.max_upload_bytes} "
                                     "bytes")
        try:
            parser.write(chunk)
        except FormParserError as exc:
            raise InputError(f"malformed multipart body: {exc}", code="invalid_multipart") from None
        return True

    while not form.file_seen and feed():
        pass
    if not form.file_seen:
        raise InputError(f"no '{FILE_FIELD}' part in the form", code="missing_file")
    apply_fields(req, form)  # the fields sent before the file; ingest() validates the profile early

    def fill(staging: Staging) -> None:
        form.sink = staging.write
        for piece in form.pending:
            staging.write(piece)
        form.pending.clear()
        while feed():
            pass
        if not form.ended or parser.state != MultipartState.END:
            raise InputError("the multipart body ended early (truncated upload?)", code="invalid_multipart")
        apply_fields(req, form)  # and those sent after it

    return ingest(rt, req, fill)


def apply_fields(req: IngestRequest, form: _Form) -> None:
    f = form.fields
    for name, value in f.items():
        if "\x00" in value:
            raise InputError(f"form field {name!r} contains a NUL character", code="invalid_multipart")
    req.original_name = form.filename
    req.content_type = form.content_type
    for name, most in (("title", 500), ("description", 20_000)):  # as the JSON routes (and the schema) say
        if len(f.get(name, "")) > most:
            raise InputError(f"form field {name!r} is longer than {most} characters", code="invalid_multipart")
    if "title" in f:
        req.title = f["title"].strip() or None
    if "description" in f:
        req.description = f["description"]
    if "tags" in f:
        req.tags = parse_tags(f["tags"])
    if "profile" in f:
        req.profile = f["profile"].strip() or None
    if "priority" in f:
        req.priority = parse_priority(f["priority"])


def parse_tags(raw: str) -> list[str]:
    tags = list(dict.fromkeys(t.strip() for t in raw.split(",") if t.strip()))
    if len(tags) > 100 or any(len(t) > 100 for t in tags):
        raise InputError("at most 100 tags of at most 100 characters", code="invalid_tags")
    return tags


def parse_priority(raw: str) -> int:
    try:
        value = int(raw.strip())
    except ValueError:
        raise InputError("priority must be an integer", code="invalid_priority") from None
    if not -100 <= value <= 100:
        raise InputError("priority must be between -100 and 100", code="invalid_priority")
    return value
