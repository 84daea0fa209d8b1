"""Watch folder: ingest media files that appear in a directory, once each is fully written.

A file counts as complete when its size and mtime are unchanged over `settle_polls` polls (copies and
uploads into the folder take time). Identical bytes are recognised by ingest itself, so a restart that
sees the same files again creates nothing new; the in-memory `seen` map only saves re-hashing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from vidpipe.errors import VidpipeError
from vidpipe.ingest.paths import iter_import_files
from vidpipe.ingest.service import IngestRequest, IngestResult, ingest_path
from vidpipe.runtime import Runtime

log = logging.getLogger(__name__)

Signature = tuple[int, int]  # (size, mtime_ns)


@dataclass
class FolderState:
    """Pure bookkeeping: which files are settling, which are done."""

    settle_polls: int = 2
    pending: dict[Path, tuple[Signature, int]] = field(default_factory=dict)  # path -> (signature, stable polls)
    done: dict[Path, Signature] = field(default_factory=dict)

    def observe(self, listing: dict[Path, Signature]) -> list[Path]:
        """Feed one directory listing; returns the files that just became ready to ingest."""
        ready = []
        for path, sig in listing.items():
            if self.done.get(path) == sig:
                continue
            previous, stable = self.pending.get(path, (None, 0))
            stable = stable + 1 if previous == sig else 0
            if stable >= self.settle_polls - 1 and sig[0] > 0:
                ready.append(path)
                self.pending.pop(path, None)
            else:
                self.pending[path] = (sig, stable)
        for gone in set(self.pending) - set(listing):
            del self.pending[gone]
        return sorted(ready)

    def mark_done(self, path: Path, sig: Signature) -> None:
        self.done[path] = sig


def list_folder(folder: Path) -> dict[Path, Signature]:
    listing = {}
    for path in iter_import_files(folder, [folder]):
        try:
            st = path.stat()
        except FileNotFoundError:
            continue
        listing[path] = (st.st_size, st.st_mtime_ns)
    return listing


def watch_folder(rt: Runtime, folder: Path, *, interval: float = 2.0, settle_polls: int = 2, profile: str | None = None,
                 stop: threading.Event | None = None,
                 on_ingested: Callable[[Path, IngestResult], None] | None = None) -> None:
    """Poll `folder` until `stop` is set, ingesting each new or changed media file once it has settled."""
    folder = folder.resolve()
    state = FolderState(settle_polls=settle_polls)
    stop = stop or threading.Event()
    while not stop.is_set():
        listing = list_folder(folder)
        for path in state.observe(listing):
            try:
                result = ingest_path(rt, path, IngestRequest(source_kind="path", profile=profile, actor="watch"),
                                     roots=[folder])
            except VidpipeError as exc:
                log.warning("watch.rejected", extra={"path": path.name, "error": exc.message})
            else:
                log.info("watch.ingested", extra={"path": path.name, "asset": str(result.asset.id),
                                                  "duplicate": result.duplicate})
                if on_ingested:
                    on_ingested(path, result)
            state.mark_done(path, listing[path])
        stop.wait(interval)
