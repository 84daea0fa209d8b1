"""Media store on S3 (boto3): streaming multipart uploads hashed on the fly, ranged reads, SSE, presigned URLs.

Uploads: the final key (`{asset}/original`) is only known once the bytes are hashed and found new, so an
upload streams to a temporary key under `.incoming/` (parts of `part_bytes` sent as they fill; nothing is
spooled to local disk) and `commit()` copies it server-side to its key and deletes the temporary one. An
upload smaller than one part never becomes a multipart upload: it is sent straight to its final key. A
discarded upload is aborted, so no parts are left behind (`sweep_incoming` catches what a killed process left).
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO

from vidpipe.errors import NotFoundError, StorageError, VidpipeError
from vidpipe.mediastore.base import CHUNK_BYTES, HashingWriter, MediaStore, Staging, StoredBlob, check_key
from vidpipe.mediastore.source_cache import SourceCache, entry_name, key_prefix
from vidpipe.settings import Settings

log = logging.getLogger(__name__)

INCOMING = ".incoming"  # never a valid media key (check_key refuses a leading dot), so never served
MIN_PART_BYTES = 5 * 1024 * 1024  # S3's minimum for every part but the last
DEFAULT_PART_BYTES = 8 * 1024 * 1024
DELETE_BATCH = 1000  # DeleteObjects takes at most 1,000 keys
_MISSING = frozenset({"404", "NoSuchKey", "NotFound"})


def _copy_config() -> Any:
    from boto3.s3.transfer import TransferConfig

    return TransferConfig(multipart_threshold=5 * 1024**3, multipart_chunksize=256 * 1024**2, max_concurrency=8)


_COPY_CONFIG = _copy_config()


def _code(exc: Exception) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", "")) or type(exc).__name__


class _PartSink:
    """Buffers writes and ships every full part; the HashingWriter in front of it counts and hashes."""

    def __init__(self, staging: _S3Staging) -> None:
        self._staging = staging
        self.buffer = bytearray()

    def write(self, chunk: bytes | memoryview) -> int:
        self.buffer += chunk
        while len(self.buffer) >= self._staging.part_bytes:
            part = bytes(self.buffer[: self._staging.part_bytes])
            del self.buffer[: self._staging.part_bytes]
            self._staging.send_part(part)
        return len(chunk)


class _S3Staging(Staging):
    def __init__(self, store: S3MediaStore, max_bytes: int | None) -> None:
        self._store = store
        self.part_bytes = store.part_bytes
        self.temp_key = f"{store.prefix}{INCOMING}/upload-{uuid.uuid4().hex}"
        self._sink = _PartSink(self)
        self.writer = HashingWriter(self._sink, max_bytes)
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []
        self._temp_written = False
        self.committed: StoredBlob | None = None

    def send_part(self, data: bytes) -> None:
        s3, bucket = self._store.client, self._store.bucket
        try:
            if self._upload_id is None:
                self._upload_id = s3.create_multipart_upload(Bucket=bucket, Key=self.temp_key,
                                                             **self._store.sse_args())["UploadId"]
            number = len(self._parts) + 1
            etag = s3.upload_part(Bucket=bucket, Key=self.temp_key, UploadId=self._upload_id, PartNumber=number,
                                  Body=data)["ETag"]
        except Exception as exc:
            raise StorageError(f"uploading to the media bucket failed: {_code(exc)}") from exc
        self._parts.append({"PartNumber": number, "ETag": etag})

    def commit(self, key: str) -> StoredBlob:
        target = self._store.full_key(key)
        s3, bucket = self._store.client, self._store.bucket
        meta = {"sha256": self.writer.sha256}
        try:
            if self._upload_id is None:  # smaller than one part: one PUT, straight to its key
                s3.put_object(Bucket=bucket, Key=target, Body=bytes(self._sink.buffer), Metadata=meta,
                              **self._store.sse_args())
            else:
                if self._sink.buffer:
                    self.send_part(bytes(self._sink.buffer))
                    self._sink.buffer.clear()
                s3.complete_multipart_upload(Bucket=bucket, Key=self.temp_key, UploadId=self._upload_id,
                                             MultipartUpload={"Parts": self._parts})
                self._upload_id, self._temp_written = None, True
                # Managed copy: one CopyObject up to 5 GiB, UploadPartCopy beyond; the bytes never leave S3.
                s3.copy({"Bucket": bucket, "Key": self.temp_key}, bucket, target,
                        ExtraArgs={"Metadata": meta, "MetadataDirective": "REPLACE", **self._store.sse_args()},
                        Config=_COPY_CONFIG)
        except Exception as exc:
            raise self._store._fail(key, exc) from exc
        self.committed = StoredBlob(key, self.writer.size, self.writer.sha256)
        return self.committed

    def close(self) -> None:
        s3, bucket = self._store.client, self._store.bucket
        try:
            if self._upload_id is not None:
                s3.abort_multipart_upload(Bucket=bucket, Key=self.temp_key, UploadId=self._upload_id)
            if self._temp_written:
                s3.delete_object(Bucket=bucket, Key=self.temp_key)
        except Exception as exc:  # sweep_incoming (and the bucket's lifecycle rule) remove it later
            log.warning("blobs.cleanup_failed", extra={"key": self.temp_key, "error": _code(exc)})


class S3MediaStore(MediaStore):
    name = "s3"

    def __init__(self, bucket: str, *, client: Any, prefix: str = "", sse: str | None = None,
                 kms_key_id: str | None = None, part_bytes: int = DEFAULT_PART_BYTES,
                 presign_seconds: int = 3600, source_cache: SourceCache | None = None) -> None:
        if part_bytes < MIN_PART_BYTES:
            raise ValueError(f"part_bytes must be at least {MIN_PART_BYTES} (S3's minimum part size)")
        self.bucket = bucket
        self.client = client
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.sse = sse
        self.kms_key_id = kms_key_id
        self.part_bytes = part_bytes
        self.presign_seconds = presign_seconds
        self.source_cache = source_cache  # None: each local_copy downloads its own

    @classmethod
    def from_settings(cls, settings: Settings) -> S3MediaStore:
        from vidpipe.cloud.clients import aws_client

        if not settings.cloud.s3_bucket:
            raise VidpipeError("VIDPIPE_MEDIA_STORE=s3 needs VIDPIPE_S3_BUCKET", code="config")
        cache_bytes = settings.cloud.s3_source_cache_bytes
        return cls(settings.cloud.s3_bucket, client=aws_client(settings, "s3"), prefix=settings.cloud.s3_prefix,
                   sse=settings.cloud.s3_sse, kms_key_id=settings.cloud.s3_kms_key_id,
                   presign_seconds=settings.cloud.presign_expires_seconds,
                   source_cache=SourceCache(settings.scratch_root / "sources", cache_bytes,
                                            min_free_bytes=settings.ready_min_free_bytes) if cache_bytes else None)

    # --- keys and arguments -------------------------------------------------------------------------------
    def full_key(self, key: str) -> str:
        return self.prefix + check_key(key)

    def sse_args(self) -> dict[str, str]:
        """Per-object encryption arguments; none means the bucket's default encryption applies."""
        if self.sse is None:
            return {}
        args = {"ServerSideEncryption": self.sse}
        if self.sse == "aws:kms" and self.kms_key_id:
            args["SSEKMSKeyId"] = self.kms_key_id
        return args

    def _fail(self, key: str, exc: Exception) -> Exception:
        if isinstance(exc, VidpipeError):  # an unsafe key, refused before any request
            return exc
        if _code(exc) in _MISSING:
            return NotFoundError(f"no media at {key}")
        return StorageError(f"media bucket request for {key} failed: {_code(exc)}")

    # --- writes --------------------------------------------------------------------------------------------
    @contextmanager
    def open_staging(self, max_bytes: int | None = None) -> Iterator[_S3Staging]:
        staging = _S3Staging(self, max_bytes)
        try:
            yield staging
        finally:
            staging.close()

    def put_file(self, key: str, path: Path, content_type: str | None = None) -> StoredBlob:
        digest = hashlib.sha256()
        size = 0
        with open(path, "rb") as fh:
            while chunk := fh.read(CHUNK_BYTES):
                digest.update(chunk)
                size += len(chunk)
        extra: dict[str, Any] = {"Metadata": {"sha256": digest.hexdigest()}, **self.sse_args()}
        if content_type:
            extra["ContentType"] = content_type
        try:
            self.client.upload_file(str(path), self.bucket, self.full_key(key), ExtraArgs=extra)
        except Exception as exc:
            raise self._fail(key, exc) from exc
        return StoredBlob(key, size, digest.hexdigest())

    def delete(self, key: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self.full_key(key))
        except Exception as exc:
            raise self._fail(key, exc) from exc
        self._forget([self.full_key(key)])

    def _forget(self, full_keys: list[str]) -> None:
        # A deleted original leaves this volume's cache now (other volumes' copies age out).
        if self.source_cache is not None:
            for full_key in full_keys:
                self.source_cache.forget(key_prefix(f"{self.bucket}/{full_key}"))

    def delete_prefix(self, prefix: str) -> int:
        base = self.full_key(prefix.rstrip("/"))
        doomed = [k for k in self._list_raw(base) if k == base or k.startswith(base + "/")]
        for i in range(0, len(doomed), DELETE_BATCH):
            batch = [{"Key": k} for k in doomed[i: i + DELETE_BATCH]]
            try:
                out = self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
            except Exception as exc:
                raise StorageError(f"deleting {prefix} failed: {_code(exc)}") from exc
            if out.get("Errors"):
                raise StorageError(f"deleting {prefix} failed for {len(out['Errors'])} object(s)")
        self._forget(doomed)
        return len(doomed)

    # --- reads ---------------------------------------------------------------------------------------------
    def open_read(self, key: str) -> BinaryIO:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self.full_key(key))["Body"]
        except Exception as exc:
            raise self._fail(key, exc) from exc

    def iter_range(self, key: str, start: int, end: int) -> Iterable[bytes]:
        """One ranged GET, streamed (a seek is a new request on S3, so the base class's seek+read won't do)."""
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self.full_key(key), Range=f"bytes={start}-{end}")
        except Exception as exc:
            raise self._fail(key, exc) from exc
        stream = body["Body"]
        try:
            yield from stream.iter_chunks(CHUNK_BYTES)
        finally:
            stream.close()

    def _head(self, key: str) -> dict[str, Any]:
        try:
            return self.client.head_object(Bucket=self.bucket, Key=self.full_key(key))
        except Exception as exc:
            raise self._fail(key, exc) from exc

    def size(self, key: str) -> int:
        return int(self._head(key)["ContentLength"])

    def exists(self, key: str) -> bool:
        try:
            self._head(key)
        except NotFoundError:
            return False
        return True

    def list(self, prefix: str) -> Iterator[str]:
        base = self.full_key(prefix.rstrip("/")) + "/"
        for raw in self._list_raw(base):
            yield raw[len(self.prefix):]

    def _list_raw(self, raw_prefix: str) -> Iterator[str]:
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=raw_prefix):
                for obj in page.get("Contents", []):
                    yield obj["Key"]
        except Exception as exc:
            raise StorageError(f"listing {raw_prefix} failed: {_code(exc)}") from exc

    @contextmanager
    def local_copy(self, key: str, scratch: Path) -> Iterator[Path]:
        """The cached copy on the scratch volume (one download per volume, `SourceCache`); without a cache,
        a download to the job's scratch directory (local disk or EFS), removed afterwards."""
        if self.source_cache is not None:
            head = self._head(key)
            name = entry_name(f"{self.bucket}/{self.full_key(key)}", str(head.get("ETag", "")))
            with self.source_cache.copy(name, int(head["ContentLength"]), partial(self._download, key)) as path:
                yield path
            return
        scratch.mkdir(parents=True, exist_ok=True)
        path = scratch / f"source-{uuid.uuid4().hex[:8]}-{key.rsplit('/', 1)[-1]}"
        try:
            self._download(key, path)
            yield path
        finally:
            path.unlink(missing_ok=True)

    def _download(self, key: str, path: Path) -> None:
        try:
            self.client.download_file(self.bucket, self.full_key(key), str(path))
        except Exception as exc:
            raise self._fail(key, exc) from exc

    def presign(self, key: str, expires_seconds: int | None = None) -> str | None:
        params = {"Bucket": self.bucket, "Key": self.full_key(key)}
        return self.client.generate_presigned_url("get_object", Params=params,
                                                  ExpiresIn=expires_seconds or self.presign_seconds)

    # --- housekeeping --------------------------------------------------------------------------------------
    def sweep_incoming(self, older_than_seconds: float = 3600) -> int:
        """Abort uploads and delete temporary objects a killed process left under `.incoming/`."""
        cutoff = datetime.fromtimestamp(time.time() - older_than_seconds, UTC)
        incoming = f"{self.prefix}{INCOMING}/"
        removed = 0
        try:
            for page in self.client.get_paginator("list_multipart_uploads").paginate(Bucket=self.bucket,
                                                                                    Prefix=incoming):
                for up in page.get("Uploads", []):
                    if up["Initiated"] < cutoff:
                        self.client.abort_multipart_upload(Bucket=self.bucket, Key=up["Key"], UploadId=up["UploadId"])
                        removed += 1
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=incoming):
                for obj in page.get("Contents", []):
                    if obj["LastModified"] < cutoff:
                        self.client.delete_object(Bucket=self.bucket, Key=obj["Key"])
                        removed += 1
        except Exception as exc:  # housekeeping: never worth failing a worker's start over
            log.warning("blobs.sweep_failed", extra={"error": _code(exc)})
        return removed
