"""HTTP Range (single range, RFC 9110 §14) and content types of stored media, as pure functions."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath

_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)
# Past this many digits a position is beyond any file (and int() of thousands of digits raises).
_MAX_DIGITS = 18
_BEYOND = 10**_MAX_DIGITS

CONTENT_TYPES = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".ts": "video/mp2t",
    ".m4s": "video/iso.segment",
    ".mp4": "video/mp4",
    ".m4a": "audio/mp4",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".webp": "image/webp",
    ".vtt": "text/vtt",
    ".json": "application/json",
}


class Unsatisfiable(Exception):
    """416: the range lies outside the representation."""


@dataclass(frozen=True)
class ByteRange:
    start: int
    end: int  # inclusive

    @property
    def length(self) -> int:
        return self.end - self.start + 1

    def content_range(self, size: int) -> str:
        return f"bytes {self.start}-{self.end}/{size}"


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """The one range asked for; None means "send it all" (no header, a syntax we ignore, several ranges)."""
    if not header:
        return None
    match = _RANGE.match(header)
    if match is None:  # malformed or multiple ranges: a server may ignore Range and send 200
        return None
    first, last = (_position(g) for g in match.groups())
    if not first and not last:
        return None
    if not first:  # suffix: the last N bytes
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise Unsatisfiable
        return ByteRange(max(0, size - suffix), size - 1)
    start = int(first)
    end = int(last) if last else size - 1
    if last and end < start:
        return None  # invalid range-spec: ignored
    if start >= size:
        raise Unsatisfiable
    return ByteRange(start, min(end, size - 1))


def _position(digits: str) -> str:
    """The digits as given, or a number past any file for an absurdly long one (same meaning, bounded)."""
    return str(_BEYOND) if len(digits) > _MAX_DIGITS else digits


def guess_content_type(key: str) -> str:
    return CONTENT_TYPES.get(PurePosixPath(key).suffix.lower(), "application/octet-stream")
