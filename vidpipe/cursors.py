"""The one codec of the opaque page cursors the API, the console and search hand out: URL-safe base64 (no padding)
of a JSON list. What the list holds, and how it is checked, is each caller's."""

from __future__ import annotations

import base64
import json

from vidpipe.errors import InputError


def encode_cursor(values: list[object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> list[object]:
    """The list inside a cursor; InputError("invalid cursor") for anything this codec did not write."""
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, TypeError):
        raise InputError("invalid cursor", code="invalid_cursor") from None
    if not isinstance(value, list):
        raise InputError("invalid cursor", code="invalid_cursor")
    return value
