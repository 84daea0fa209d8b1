"""One contract for the media-store interface, run over every implementation: a local directory and S3
(moto in server mode on loopback, reached over HTTP like the real thing)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import httpx
import pytest

from tests.aws_emulator import Emulator, aws_emulator_fixture, s3_bucket_fixture  # noqa: F401 - fixtures
from vidpipe.errors import LimitExceededError, NotFoundError, UnsafeSourceError
from vidpipe.mediastore import MediaStore, media_store_from_settings
from vidpipe.mediastore.local import LocalMediaStore
from vidpipe.mediastore.s3 import MIN_PART_BYTES, S3MediaStore
from vidpipe.settings import Settings

PART = MIN_PART_BYTES


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> MediaStore:
    if request.param == "local":
        return LocalMediaStore(tmp_path / "media")
    emulator: Emulator = request.getfixturevalue("aws_emulator")
    bucket = request.getfixturevalue("s3_bucket")
    settings = Settings(data_dir=tmp_path, media_store="s3", s3_bucket=bucket, s3_prefix="tenant-a/",
                        s3_sse="AES256", aws_region=emulator.region, aws_endpoint_url=emulator.endpoint_url)
    s3 = media_store_from_settings(settings)
    assert isinstance(s3, S3MediaStore)
    s3.part_bytes = PART  # the smallest S3 allows, so a few MiB exercise the multipart path
    return s3


def _stage(store: MediaStore, data: bytes, key: str | None, chunk: int = 1 << 20):
    with store.open_staging() as staging:
        for i in range(0, len(data), chunk):
            staging.write(data[i: i + chunk])
        return staging.commit(key) if key else None


def _multipart_uploads(store: MediaStore) -> list:
    if not isinstance(store, S3MediaStore):
        return [p for p in (store.root / ".incoming").iterdir()]
    return store.client.list_multipart_uploads(Bucket=store.bucket).get("Uploads", [])


def test_put_get_size_exists_delete(store: MediaStore, tmp_path: Path) -> None:
    src = tmp_path / "poster.jpg"
    src.write_bytes(b"\xff\xd8poster")
    stored = store.put_file("a1/thumbs/poster.jpg", src, "image/jpeg")
    assert (stored.size, stored.sha256) == (8, hashlib.sha256(b"\xff\xd8poster").hexdigest())
    assert store.exists("a1/thumbs/poster.jpg") and store.size("a1/thumbs/poster.jpg") == 8
    with store.open_read("a1/thumbs/poster.jpg") as fh:
        assert fh.read() == b"\xff\xd8poster"
    store.delete("a1/thumbs/poster.jpg")
    assert not store.exists("a1/thumbs/poster.jpg")
    with pytest.raises(NotFoundError):
        store.size("a1/thumbs/poster.jpg")
    with pytest.raises(NotFoundError):
        store.open_read("a1/missing")


def test_ranged_reads(store: MediaStore) -> None:
    data = os.urandom(3 * (1 << 20) + 17)
    _stage(store, data, "r/original")
    assert b"".join(store.iter_range("r/original", 0, 9)) == data[:10]
    assert b"".join(store.iter_range("r/original", 1_000_000, 2_500_000)) == data[1_000_000:2_500_001]
    assert b"".join(store.iter_range("r/original", len(data) - 5, len(data) - 1)) == data[-5:]


def test_list_and_delete_prefix(store: MediaStore, tmp_path: Path) -> None:
    src = tmp_path / "f"
    src.write_bytes(b"x")
    keys = ["a1/hls/720p/index.m3u8", "a1/hls/master.m3u8", "a1/original", "a10/original", "b2/original"]
    for key in keys:
        store.put_file(key, src)
    assert sorted(store.list("a1")) == ["a1/hls/720p/index.m3u8", "a1/hls/master.m3u8", "a1/original"]
    assert sorted(store.list("a1/hls/")) == ["a1/hls/720p/index.m3u8", "a1/hls/master.m3u8"]
    assert list(store.list("nothing")) == []
    assert store.delete_prefix("a1") == 3  # not a10: a prefix is a folder, not a string prefix
    assert list(store.list("a1")) == []
    assert store.exists("a10/original") and store.exists("b2/original")
    assert store.delete_prefix("a10/original") == 1
    assert store.delete_prefix("gone") == 0


def test_delete_prefix_in_batches(store: MediaStore, tmp_path: Path) -> None:
    if isinstance(store, S3MediaStore):
        import vidpipe.mediastore.s3 as s3mod

        s3mod.DELETE_BATCH, saved = 7, s3mod.DELETE_BATCH
    src = tmp_path / "seg"
    src.write_bytes(b"ts")
    for i in range(20):
        store.put_file(f"z9/hls/720p/seg-{i:03d}.ts", src)
    try:
        assert store.delete_prefix("z9") == 20
    finally:
        if isinstance(store, S3MediaStore):
            s3mod.DELETE_BATCH = saved
    assert list(store.list("z9")) == []


@pytest.mark.parametrize("size", [0, 1000, 2 * PART + 123])  # empty, one PUT, multipart with a short last part
def test_staging_commit_hashes_on_the_fly(store: MediaStore, size: int) -> None:
    data = os.urandom(size)
    stored = _stage(store, data, "s/original", chunk=300_000)
    assert (stored.key, stored.size, stored.sha256) == ("s/original", size, hashlib.sha256(data).hexdigest())
    with store.open_read("s/original") as fh:
        assert fh.read() == data
    assert _multipart_uploads(store) == []
    assert list(store.list("s")) == ["s/original"]


def test_staging_abort_leaves_nothing(store: MediaStore) -> None:
    data = os.urandom(2 * PART + 5)
    with store.open_staging() as staging:
        staging.write(data)
        assert staging.sha256 == hashlib.sha256(data).hexdigest()
        if isinstance(store, S3MediaStore):
            assert len(_multipart_uploads(store)) == 1  # parts went out while the upload streamed
    assert _multipart_uploads(store) == []
    if isinstance(store, S3MediaStore):
        assert store.client.list_objects_v2(Bucket=store.bucket).get("KeyCount", 0) == 0


def test_staging_size_limit(store: MediaStore) -> None:
    with pytest.raises(LimitExceededError), store.open_staging(max_bytes=PART + 10) as staging:
        staging.write(os.urandom(PART))
        staging.write(os.urandom(11))
    assert _multipart_uploads(store) == []


def test_local_copy_without_a_cache_is_removed_afterwards(store: MediaStore, tmp_path: Path) -> None:
    if isinstance(store, S3MediaStore):
        store.source_cache = None  # VIDPIPE_S3_SOURCE_CACHE_BYTES=0
    _stage(store, b"media bytes", "c/original")
    scratch = tmp_path / "scratch" / "job-1-a1"
    with store.local_copy("c/original", scratch) as path:
        assert path.read_bytes() == b"media bytes"
    assert path.exists() == isinstance(store, LocalMediaStore)  # a local store hands out the file itself
    if isinstance(store, S3MediaStore):
        assert list(scratch.iterdir()) == []
    with pytest.raises(NotFoundError), store.local_copy("c/missing", scratch):
        pass


def _count_gets(store: S3MediaStore) -> list[str]:
    gets: list[str] = []
    store.client.meta.events.register("before-parameter-build.s3.GetObject",
                                      lambda params, **_: gets.append(params["Key"]))
    return gets


def test_s3_sources_are_downloaded_once_per_volume_until_replaced_or_deleted(store: MediaStore,
                                                                             tmp_path: Path) -> None:
    if not isinstance(store, S3MediaStore):
        pytest.skip("S3 only: a local store opens the stored file itself")
    assert store.source_cache is not None and store.source_cache.root == tmp_path / "scratch" / "sources"
    gets = _count_gets(store)
    _stage(store, b"first version", "c/original")
    for job in (1, 2):  # e.g. the probe, then a chunk job: the second reads the first one's copy
        with store.local_copy("c/original", tmp_path / "scratch" / f"job-{job}-a1") as path:
            assert path.read_bytes() == b"first version"
            assert path.parent == store.source_cache.root and "original" not in path.name  # names are hashes
    assert len(gets) == 1 and path.exists()
    _stage(store, b"second version", "c/original")  # another ETag: another copy
    with store.local_copy("c/original", tmp_path / "scratch" / "job-3-a1") as path2:
        assert path2.read_bytes() == b"second version" and path2 != path
    assert len(gets) == 2
    store.delete_prefix("c")  # the asset's deletion takes its cached copies on this volume too
    assert not path.exists() and not path2.exists()
    with pytest.raises(NotFoundError), store.local_copy("c/original", tmp_path / "scratch" / "job-4-a1"):
        pass


def test_s3_sources_read_at_once_by_many_jobs_are_downloaded_once(store: MediaStore, tmp_path: Path) -> None:
    if not isinstance(store, S3MediaStore):
        pytest.skip("S3 only")
    from concurrent.futures import ThreadPoolExecutor

    data = os.urandom(300_000)
    _stage(store, data, "m/original")
    gets = _count_gets(store)

    def read(job: int) -> bytes:  # each open() of the lock file locks on its own, as separate processes do
        with store.local_copy("m/original", tmp_path / "scratch" / f"job-{job}-a1") as path:
            return path.read_bytes()

    with ThreadPoolExecutor(6) as pool:
        assert all(got == data for got in pool.map(read, range(6)))
    assert len(gets) == 1


def test_presigned_url(store: MediaStore) -> None:
    _stage(store, b"#EXTM3U\n", "p/hls/master.m3u8")
    url = store.presign("p/hls/master.m3u8", expires_seconds=60)
    if isinstance(store, LocalMediaStore):
        assert url is None  # served by the API instead
        return
    assert url is not None and "Signature" in url and "tenant-a/p/hls/master.m3u8" in url
    response = httpx.get(url)
    assert response.status_code == 200 and response.content == b"#EXTM3U\n"


def test_server_side_encryption_and_prefix(store: MediaStore) -> None:
    if not isinstance(store, S3MediaStore):
        pytest.skip("S3 only")
    _stage(store, os.urandom(PART + 1), "e/original")
    _stage(store, b"small", "e/small")
    for key in ("tenant-a/e/original", "tenant-a/e/small"):
        head = store.client.head_object(Bucket=store.bucket, Key=key)
        assert head["ServerSideEncryption"] == "AES256"
        assert len(head["Metadata"]["sha256"]) == 64


@pytest.mark.parametrize("key", ["../etc/passwd", "a/../../b", "/abs", "a//b", ".incoming/x", "a/b\\c", ""])
def test_check_key_refuses_unsafe_keys(store: MediaStore, key: str) -> None:
    with pytest.raises(UnsafeSourceError):
        store.exists(key)
    with pytest.raises(UnsafeSourceError), store.open_staging() as staging:
        staging.write(b"x")
        staging.commit(key)
