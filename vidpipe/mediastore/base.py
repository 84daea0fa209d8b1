"""The media store interface. Keys are ours (`{asset_id}/hls/master.m3u8`), never user-supplied names."""

from __future__ import annotations

import hashlib
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable

from vidpipe.errors import LimitExceededError, UnsafeSourceError, storage_error

CHUNK_BYTES = 1024 * 1024
_KEY_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def check_key(key: str) -> str:
    """Keys are relative, '/'-separated, made of safe parts: no '..', no absolute paths, no odd bytes."""
    parts = key.split("/")
    if not key or any(not _KEY_PART.match(p) or p in (".", "..") for p in parts):
        raise UnsafeSourceError(f"invalid media key {key!r}")
    return key


class ByteSink(Protocol):
    """Where a HashingWriter sends the bytes: an open binary file, or the S3 part buffer."""

    def write(self, chunk: bytes | memoryview, /) -> int: ...


@runtime_checkable
class Readable(Protocol):
    """What `Staging.copy_from` reads: an open binary file (or anything with `read(n) -> bytes`)."""

    def read(self, size: int, /) -> bytes: ...


@dataclass(frozen=True)
class StoredBlob:
    key: str
    size: int
    sha256: str


class HashingWriter:
    """Counts and hashes bytes as they stream past; refuses to grow past a limit."""

    def __init__(self, sink: ByteSink, max_bytes: int | None = None) -> None:
        self._sink = sink
        self._hash = hashlib.sha256()
        self.size = 0
        self.max_bytes = max_bytes

    def write(self, chunk: bytes | memoryview) -> int:
        self.size += len(chunk)
        if self.max_bytes is not None and self.size > self.max_bytes:
            raise LimitExceededError(f"upload is larger than the limit of {self.max_bytes} bytes")
        self._hash.update(chunk)
        try:
            return self._sink.write(chunk)
        except OSError as exc:  # a full disk is an outage of ours (503, retried), never the upload's fault
            raise storage_error(exc, "could not store the upload") from exc

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()


class MediaStore(ABC):
    """Where originals and outputs live: a local directory (also an EFS mount) or S3."""

    name: str = "base"

    @abstractmethod
    def open_staging(self, max_bytes: int | None = None) -> AbstractContextManager[Staging]:
        """A place to stream an incoming upload while hashing it; commit() moves it to its key."""

    @abstractmethod
    def put_file(self, key: str, path: Path, content_type: str | None = None) -> StoredBlob: ...

    @abstractmethod
    def open_read(self, key: str) -> BinaryIO: ...

    @abstractmethod
    def size(self, key: str) -> int: ...

    @abstractmethod
    def exists(self, key: str) -> bool: ...

    @abstractmethod
    def delete(self, key: str) -> None: ...

    @abstractmethod
    def delete_prefix(self, prefix: str) -> int: ...

    @abstractmethod
    def list(self, prefix: str) -> Iterator[str]: ...

    @abstractmethod
    def local_copy(self, key: str, scratch: Path) -> AbstractContextManager[Path]:
        """A local path to read the blob from (the file itself where the store is local)."""

    def presign(self, key: str, expires_seconds: int | None = None) -> str | None:
        """A time-limited URL that fetches the blob without vidpipe in the path; None where there is none."""
        return None

    def iter_range(self, key: str, start: int, end: int) -> Iterable[bytes]:
        """Bytes start..end inclusive, in chunks (HTTP Range)."""
        with self.open_read(key) as fh:
            fh.seek(start)
            remaining = end - start + 1
            while remaining > 0:
                chunk = fh.read(min(CHUNK_BYTES, remaining))
                if not chunk:
                    break
                remaining -= len(chunk)
                yield chunk


class Staging(ABC):
    """An upload in flight: write() chunks, then commit(key) or let it be discarded."""

    writer: HashingWriter

    def write(self, chunk: bytes | memoryview) -> None:
        self.writer.write(chunk)

    def copy_from(self, fh: Readable) -> None:
        while chunk := fh.read(CHUNK_BYTES):
            self.writer.write(chunk)

    @property
    def size(self) -> int:
        return self.writer.size

    @property
    def sha256(self) -> str:
        return self.writer.sha256

    @abstractmethod
    def commit(self, key: str) -> StoredBlob: ...
