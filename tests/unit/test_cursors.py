"""One cursor codec for every paged read: what one part encodes, the others decode alike."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from vidpipe.api import pagination
from vidpipe.cursors import decode_cursor, encode_cursor
from vidpipe.errors import InputError
from vidpipe.search import query


def test_round_trip_is_url_safe_without_padding():
    values = [datetime(2026, 12, 3, tzinfo=UTC).isoformat(), str(uuid.uuid4()), 3, "é/+?"]
    cursor = encode_cursor(values)
    assert "=" not in cursor and "+" not in cursor and "/" not in cursor
    assert decode_cursor(cursor) == values


@pytest.mark.parametrize("garbage", ["", "!!!", "e30", "bnVsbA", "eyJ"])  # empty, not base64, {}, null, cut JSON
def test_anything_else_is_an_invalid_cursor(garbage):
    with pytest.raises(InputError) as caught:
        decode_cursor(garbage)
    assert caught.value.code == "invalid_cursor"


def test_the_api_and_search_cursors_share_the_codec():
    at, item = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), uuid.uuid4()
    assert decode_cursor(pagination.encode_time_id(at, item)) == [at.isoformat(), str(item)]
    assert pagination.decode_id(encode_cursor([42])) == 42
    assert query.decode_cursor(encode_cursor([20, "k1"]), "k1") == 20
    with pytest.raises(InputError):
        query.decode_cursor(encode_cursor([20, "k1"]), "another query")
