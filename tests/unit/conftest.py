"""Unit-test fixtures: generated sample media, built once and cached across sessions."""

from __future__ import annotations

import pytest

from tests.media_cache import MediaCache, default_cache_dir


@pytest.fixture(scope="session")
def media() -> MediaCache:
    """`media.get("h264_720p")` -> Path; see tests/media_cache.py RECIPES for the names."""
    return MediaCache(default_cache_dir())
