"""Opaque keyset cursors: base64 of the sort key of the last item, so pages stay stable under inserts."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import Query

from vidpipe.cursors import decode_cursor, encode_cursor
from vidpipe.errors import InputError

LimitParam = Annotated[int, Query(ge=1, le=100)]
# The pattern documents what the server issues; anything else is refused with 422 invalid_cursor.
CursorParam = Annotated[str | None, Query(max_length=400, description="`next_cursor` of the previous page",
                                          json_schema_extra={"pattern": "^[A-Za-z0-9_-]*$"})]
MAX_ID = 2**63 - 1  # bigint columns


def encode_time_id(at: datetime, item_id: uuid.UUID) -> str:
    return encode_cursor([at.isoformat(), str(item_id)])


def decode_time_id(cursor: str) -> tuple[datetime, uuid.UUID]:
    value = decode_cursor(cursor)
    try:
        at, item_id = value
        if not isinstance(at, str) or not isinstance(item_id, str):
            raise TypeError(at)
        return datetime.fromisoformat(at), uuid.UUID(item_id)
    except (ValueError, TypeError):
        raise InputError("invalid cursor", code="invalid_cursor") from None


def encode_id(item_id: int) -> str:
    return encode_cursor([item_id])


def decode_id(cursor: str) -> int:
    value = decode_cursor(cursor)
    # bool is an int to Python, and a number past the column's range reaches the database otherwise
    if len(value) != 1 or type(value[0]) is not int or not 0 <= value[0] <= MAX_ID:
        raise InputError("invalid cursor", code="invalid_cursor")
    return value[0]
