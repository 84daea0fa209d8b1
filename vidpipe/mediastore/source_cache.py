"""Originals from S3 kept on the scratch volume between the jobs that read them.

Every stage that needs the source (probe, analysis, transcode, each chunk job of a film, the audio job) used to
download the whole object into its own work dir: a 2-hour film split into 120 chunk jobs was downloaded 120
times. The cache keeps one copy per volume (per worker machine; one for all workers when the scratch dir is
on a shared file system such as EFS), least recently used first out when it holds more than `max_bytes`.

Concurrency, between the processes and machines that share the volume: each source has a lock file. A reader
holds it shared while it uses the copy; whoever must download takes it exclusively (one download per source
at a time), and eviction only removes a copy whose lock it can take exclusively without waiting, i.e. that
nobody is reading. Copies are named by a hash of the object's key and ETag, never by the key itself: a
replaced object is a new copy, and no name taken from an upload becomes a path.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

_LOCK = ".lock"
_PART = ".part-"
STALE_SECONDS = 24 * 3600  # a partial download or a lock file without a copy this old is a killed process's


def entry_name(key: str, etag: str) -> str:
    """The copy's file name: the key's hash, then the version's (so one key's copies share a prefix)."""
    return f"{_digest(key, 32)}-{_digest(etag, 12)}"


def key_prefix(key: str) -> str:
    return f"{_digest(key, 32)}-"


def _digest(text: str, length: int) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def evictable(entries: list[tuple[str, int, float]], max_bytes: int, incoming_bytes: int = 0) -> list[str]:
    """Which copies to remove, oldest use first, so that what stays plus `incoming_bytes` fits in `max_bytes`.

    `entries`: (name, size, last use). Pure: whether a copy is in use is checked by the caller, which skips it.
    """
    total = sum(size for _, size, _ in entries) + incoming_bytes
    out = []
    for name, size, _ in sorted(entries, key=lambda e: e[2]):
        if total <= max_bytes:
            break
        out.append(name)
        total -= size
    return out


@dataclass(frozen=True)
class SourceCache:
    root: Path
    max_bytes: int
    # Copies also go while the volume would keep less than this free (the readiness minimum: jobs' scratch
    # files share the volume, and a full disk fails them).
    min_free_bytes: int = 0

    @contextmanager
    def copy(self, name: str, size: int, download: Callable[[Path], None]) -> Iterator[Path]:
        """A local copy of the object `name` (see `entry_name`) of `size` bytes, made by `download(path)` when the
        volume has none; it stays in the cache afterwards, and cannot be evicted while this context is open."""
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / name
        with open(self.root / f"{name}{_LOCK}", "a+b") as lock:
            while True:
                fcntl.flock(lock, fcntl.LOCK_SH)
                if path.is_file():
                    break
                fcntl.flock(lock, fcntl.LOCK_EX)  # not atomic: another process may have downloaded meanwhile
                if not path.is_file():
                    self.evict(incoming_bytes=size)
                    self._download(path, download)
                # Back to shared and look again: the conversion lets go for a moment (an evictor could take it).
            os.utime(path)  # the last use, for eviction (mtime: atime may not be kept on this volume)
            yield path

    def _download(self, path: Path, download: Callable[[Path], None]) -> None:
        part = path.with_name(f"{path.name}{_PART}{uuid.uuid4().hex[:8]}")
        try:
            download(part)
            os.replace(part, path)  # whole or not at all: a killed download leaves only a .part file
        finally:
            part.unlink(missing_ok=True)

    def evict(self, incoming_bytes: int = 0) -> list[str]:
        """Remove least recently used copies nobody is reading until `incoming_bytes` more fit; and what killed
        processes left (partial downloads, lock files of removed copies) once it is a day old."""
        entries, now = [], time.time()
        for p in self._files():
            try:
                st = p.stat()
            except FileNotFoundError:
                continue
            if _PART in p.name or p.name.endswith(_LOCK):
                if now - st.st_mtime > STALE_SECONDS:
                    self._sweep(p)
                continue
            entries.append((p.name, st.st_size, st.st_mtime))
        return [name for name in evictable(entries, self._budget(entries), incoming_bytes)
                if self._remove_unused(self.root / name, lock_path=self.root / f"{name}{_LOCK}")]

    def _sweep(self, leftover: Path) -> None:
        """A killed download's partial file; a lock file whose copy is gone (unless someone holds it)."""
        if _PART in leftover.name:
            leftover.unlink(missing_ok=True)
        elif not (self.root / leftover.name.removesuffix(_LOCK)).exists():
            self._remove_unused(leftover, lock_path=leftover)

    def _budget(self, entries: list[tuple[str, int, float]]) -> int:
        """What the copies may occupy: max_bytes, less where the volume would otherwise drop below min_free."""
        if not self.min_free_bytes:
            return self.max_bytes
        try:
            free = shutil.disk_usage(self.root).free
        except OSError:
            return self.max_bytes
        return min(self.max_bytes, sum(size for _, size, _ in entries) + free - self.min_free_bytes)

    def forget(self, prefix: str) -> None:
        """Remove the copies whose names start with `prefix` (`key_prefix`: a deleted object), unless in use."""
        for p in self._files():
            if p.name.startswith(prefix) and not p.name.endswith(_LOCK) and _PART not in p.name:
                self._remove_unused(p, lock_path=p.with_name(f"{p.name}{_LOCK}"))

    def _files(self) -> list[Path]:
        try:
            return list(self.root.iterdir())
        except FileNotFoundError:
            return []

    @staticmethod
    def _remove_unused(path: Path, lock_path: Path) -> bool:
        """Unlink `path` if nobody holds `lock_path` (a copy's lock file stays: others may be opening it; it is
        swept once stale). `path` may be the lock file itself."""
        try:
            lock: IO[bytes] = open(lock_path, "a+b")  # noqa: SIM115 - closed below, after the unlink
        except OSError:
            return False
        with lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:  # someone is reading (or downloading) it
                return False
            path.unlink(missing_ok=True)
        return True
