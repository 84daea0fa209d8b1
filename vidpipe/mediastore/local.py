"""Media store on a local directory — the embedded default, and what an EFS mount looks like."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from vidpipe.errors import NotFoundError, storage_error
from vidpipe.mediastore.base import HashingWriter, MediaStore, Staging, StoredBlob, check_key

INCOMING = ".incoming"  # temp files of uploads and writes in flight; same filesystem, so renames are atomic


class _LocalStaging(Staging):
    def __init__(self, store: LocalMediaStore, max_bytes: int | None) -> None:
        self._store = store
        self._path = store.root / INCOMING / f"upload-{uuid.uuid4().hex}"
        try:
            self._fh = open(self._path, "wb")  # noqa: SIM115 - closed in commit/close
        except OSError as exc:
            raise storage_error(exc, "could not store the upload") from exc
        self.writer = HashingWriter(self._fh, max_bytes)
        self.committed: StoredBlob | None = None

    def commit(self, key: str) -> StoredBlob:
        target = self._store.path_for(key)
        try:
            self._fh.close()  # flushes the last buffered bytes: a full disk may only show here
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(self._path, target)
        except OSError as exc:
            raise storage_error(exc, "could not store the upload") from exc
        self.committed = StoredBlob(key, self.writer.size, self.writer.sha256)
        return self.committed

    def close(self) -> None:
        if not self._fh.closed:
            with contextlib.suppress(OSError):  # a full disk failing the final flush: the file goes anyway
                self._fh.close()
        if self.committed is None:
            self._path.unlink(missing_ok=True)


class LocalMediaStore(MediaStore):
    name = "local"

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()
        (self.root / INCOMING).mkdir(parents=True, exist_ok=True)

    def path_for(self, key: str) -> Path:
        return self.root / check_key(key)

    @contextmanager
    def open_staging(self, max_bytes: int | None = None) -> Iterator[_LocalStaging]:
        staging = _LocalStaging(self, max_bytes)
        try:
            yield staging
        finally:
            staging.close()

    def put_file(self, key: str, path: Path, content_type: str | None = None) -> StoredBlob:
        import hashlib

        target = self.path_for(key)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.root / INCOMING, prefix="put-")
        except OSError as exc:
            raise storage_error(exc, f"could not write {key}") from exc
        digest = hashlib.sha256()
        size = 0
        try:
            with os.fdopen(fd, "wb") as out, open(path, "rb") as src:
                while chunk := src.read(1024 * 1024):
                    digest.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
            os.replace(tmp, target)
        except OSError as exc:
            Path(tmp).unlink(missing_ok=True)
            raise storage_error(exc, f"could not write {key}") from exc
        return StoredBlob(key, size, digest.hexdigest())

    def open_read(self, key: str) -> BinaryIO:
        try:
            return open(self.path_for(key), "rb")
        except FileNotFoundError:
            raise NotFoundError(f"no media at {key}") from None

    def size(self, key: str) -> int:
        try:
            return self.path_for(key).stat().st_size
        except FileNotFoundError:
            raise NotFoundError(f"no media at {key}") from None

    def exists(self, key: str) -> bool:
        return self.path_for(key).is_file()

    def delete(self, key: str) -> None:
        self.path_for(key).unlink(missing_ok=True)

    def delete_prefix(self, prefix: str) -> int:
        base = self.path_for(prefix.rstrip("/"))
        if base.is_file():
            base.unlink()
            return 1
        if not base.is_dir():
            return 0
        count = sum(1 for p in base.rglob("*") if p.is_file())
        shutil.rmtree(base, ignore_errors=True)
        return count

    def list(self, prefix: str) -> Iterator[str]:
        base = self.path_for(prefix.rstrip("/"))
        if base.is_dir():
            for p in sorted(base.rglob("*")):
                if p.is_file():
                    yield p.relative_to(self.root).as_posix()

    @contextmanager
    def local_copy(self, key: str, scratch: Path) -> Iterator[Path]:
        path = self.path_for(key)
        if not path.is_file():
            raise NotFoundError(f"no media at {key}")
        yield path

    def sweep_incoming(self, older_than_seconds: float = 3600) -> int:
        """Remove temp files a killed process left behind."""
        cutoff = time.time() - older_than_seconds
        removed = 0
        for p in (self.root / INCOMING).iterdir():
            try:
                if p.stat().st_mtime < cutoff:
                    p.unlink()
                    removed += 1
            except FileNotFoundError:
                continue
        return removed
