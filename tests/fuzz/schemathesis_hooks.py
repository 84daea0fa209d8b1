"""Schemathesis hooks for the API gate (tests/fuzz/test_openapi_contract.py), loaded through SCHEMATHESIS_HOOKS."""

from __future__ import annotations

from typing import Any

import schemathesis

# Resumable-upload chunks are raw bytes, like application/octet-stream.
schemathesis.serializer.alias("application/offset+octet-stream", "application/octet-stream")


@schemathesis.hook
def map_query(context: Any, query: dict[str, Any] | None) -> dict[str, Any] | None:
    """Cursors are opaque tokens the server issues; a made-up one is refused (422 invalid_cursor), which is right,
    not a contract gap. Tampered cursors have their own tests (tests/integration/test_security.py)."""
    if isinstance(query, dict):
        query.pop("cursor", None)
    return query
