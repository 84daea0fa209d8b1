"""The S3 source cache's eviction: least recently used first, never a copy someone is reading."""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

from vidpipe.mediastore.source_cache import STALE_SECONDS, SourceCache, entry_name, evictable, key_prefix


def test_evictable_takes_the_least_recently_used_until_the_rest_fits():
    entries = [("new", 40, 300.0), ("old", 30, 100.0), ("mid", 20, 200.0)]
    assert evictable(entries, max_bytes=100) == []
    assert evictable(entries, max_bytes=60) == ["old"]
    assert evictable(entries, max_bytes=60, incoming_bytes=5) == ["old", "mid"]
    assert evictable(entries, max_bytes=0) == ["old", "mid", "new"]


def test_entry_names_are_hashes_sharing_the_keys_prefix():
    a, b = entry_name("bucket/t/asset/original", '"etag-1"'), entry_name("bucket/t/asset/original", '"etag-2"')
    assert a != b and a.startswith(key_prefix("bucket/t/asset/original")) and b.startswith(key_prefix(
        "bucket/t/asset/original"))
    assert "/" not in a and "original" not in a


def _writer(data: bytes, calls: list[Path]):
    def download(path: Path) -> None:
        calls.append(path)
        path.write_bytes(data)
    return download


def test_a_copy_in_use_is_not_evicted_and_the_oldest_unused_one_is(tmp_path: Path):
    cache = SourceCache(tmp_path / "sources", max_bytes=250)
    calls: list[Path] = []
    with cache.copy("a", 100, _writer(b"a" * 100, calls)) as a:
        with cache.copy("b", 100, _writer(b"b" * 100, calls)):
            pass
        os.utime(tmp_path / "sources" / "b", (time.time() - 60, time.time() - 60))  # b: used a minute ago
        with cache.copy("c", 100, _writer(b"c" * 100, calls)) as c:  # 300 > 250: b goes, not a (in use)
            assert a.read_bytes() == b"a" * 100 and c.read_bytes() == b"c" * 100
    assert sorted(p.name for p in (tmp_path / "sources").iterdir() if not p.name.endswith(".lock")) == ["a", "c"]
    with cache.copy("a", 100, _writer(b"x", calls)) as again:  # still there: no second download
        assert again.read_bytes() == b"a" * 100
    assert len(calls) == 3
    assert not list((tmp_path / "sources").glob("*.part-*"))


def test_a_failed_download_leaves_no_copy_and_the_next_reader_downloads(tmp_path: Path):
    cache = SourceCache(tmp_path / "sources", max_bytes=1000)

    def broken(path: Path) -> None:
        path.write_bytes(b"half")
        raise OSError("connection reset")

    try:
        with cache.copy("a", 10, broken):
            raise AssertionError("not reached")
    except OSError:
        pass
    assert [p.name for p in (tmp_path / "sources").iterdir()] == ["a.lock"]
    with cache.copy("a", 10, _writer(b"whole", [])) as path:
        assert path.read_bytes() == b"whole"


def test_forget_and_stale_leftovers(tmp_path: Path):
    root = tmp_path / "sources"
    cache = SourceCache(root, max_bytes=1000)
    with cache.copy(entry_name("k", "1"), 1, _writer(b"1", [])):
        pass
    with cache.copy(entry_name("other", "1"), 1, _writer(b"o", [])) as other:
        pass
    with cache.copy(entry_name("k", "2"), 1, _writer(b"2", [])) as in_use:
        cache.forget(key_prefix("k"))  # the one being read stays until its reader is done; other keys stay
        assert sorted(p for p in root.iterdir() if not p.name.endswith(".lock")) == sorted([in_use, other])
    old = time.time() - STALE_SECONDS - 60
    (root / "x.part-1234").write_bytes(b"killed download")
    (root / "gone.lock").touch()
    for p in (root / "x.part-1234", root / "gone.lock"):
        os.utime(p, (old, old))
    cache.evict()
    names = {p.name for p in root.iterdir()}
    assert "x.part-1234" not in names and "gone.lock" not in names and in_use.name in names


def test_another_holder_of_the_lock_blocks_eviction(tmp_path: Path):
    root = tmp_path / "sources"
    cache = SourceCache(root, max_bytes=0)
    with cache.copy("a", 5, _writer(b"abcde", [])):
        pass
    with open(root / "a.lock", "a+b") as other:  # another process reading it
        fcntl.flock(other, fcntl.LOCK_SH)
        assert cache.evict() == []
    assert cache.evict() == ["a"] and not (root / "a").exists()


def test_copies_also_go_to_keep_the_volumes_free_minimum(tmp_path: Path):
    import shutil

    root = tmp_path / "sources"
    with SourceCache(root, max_bytes=10**12).copy("a", 5, _writer(b"abcde", [])):
        pass
    free = shutil.disk_usage(tmp_path).free
    assert SourceCache(root, max_bytes=10**12, min_free_bytes=free // 2).evict() == []  # plenty left
    assert SourceCache(root, max_bytes=10**12, min_free_bytes=free + 10**9).evict() == ["a"]
