"""The console library's page cursors: what one page hands out, the next reads back; anything else is BadCursor."""

import uuid
from datetime import UTC, datetime

import pytest

from vidpipe.cursors import encode_cursor
from vidpipe.web.library import BadCursor, _decode, _encode

ASSET = uuid.UUID("0f2c3a4e-1111-4222-8333-944445555666")


@pytest.mark.parametrize(("sort", "value"), [
    ("newest", datetime(2026, 12, 3, 2, 0, tzinfo=UTC)),
    ("oldest", datetime(2026, 1, 1, tzinfo=UTC)),
    ("longest", 61.5),
    ("title", "a title"),
])
def test_a_cursor_reads_back_as_written(sort, value) -> None:
    assert _decode(_encode(value, ASSET), sort) == (value, ASSET)


@pytest.mark.parametrize(("sort", "values"), [
    ("newest", ["2026-12-03T02:00:00+00:00", 12345]),  # a number for the asset id (uuid.UUID raised AttributeError)
    ("newest", [12345, str(ASSET)]),  # a number for the time
    ("longest", [["61.5"], str(ASSET)]),  # a list for the duration
    ("longest", ["long", str(ASSET)]),
    ("title", ["a title"]),  # too short
])
def test_a_forged_cursor_is_a_bad_cursor(sort, values) -> None:
    with pytest.raises(BadCursor):
        _decode(encode_cursor(values), sort)
