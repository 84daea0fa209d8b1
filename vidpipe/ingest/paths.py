"""Path ingest: a local path is accepted only if it resolves to a regular file inside an import root."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Sequence
from pathlib import Path

from vidpipe.errors import InputError, UnsafeSourceError

log = logging.getLogger(__name__)

# What a directory import picks up; a file named explicitly is accepted whatever its extension.
MEDIA_EXTENSIONS = frozenset(
    {
        ".3gp", ".aac", ".avi", ".flac", ".flv", ".m2ts", ".m4a", ".m4v", ".mkv", ".mov", ".mp3",
        ".mp4", ".mpeg", ".mpg", ".mts", ".mxf", ".ogg", ".ogv", ".opus", ".ts", ".wav", ".webm",
        ".wma", ".wmv",
    }
)  # fmt: skip


def resolve_import_path(raw: str | Path, roots: Sequence[Path]) -> Path:
    """The resolved path of a regular file inside one of `roots`; anything else is refused."""
    path = _resolve_inside(raw, roots)
    mode = _stat(path, raw).st_mode
    if stat.S_ISDIR(mode):
        raise InputError(f"{raw} is a directory; import its files one by one or as a directory import")
    if not stat.S_ISREG(mode):
        raise UnsafeSourceError(f"{raw} is not a regular file (device, fifo or socket)")
    return path


def iter_import_files(raw: str | Path, roots: Sequence[Path]) -> list[Path]:
    """A file itself, or the media files below a directory: recursive, sorted, hidden entries skipped."""
    path = _resolve_inside(raw, roots)
    mode = _stat(path, raw).st_mode
    if not stat.S_ISDIR(mode):
        return [resolve_import_path(raw, roots)]
    found: set[Path] = set()
    # Symlinked directories are not followed (no loops, no escapes); symlinked files are, but
    # only when their target is inside a root too.
    for dirpath, dirnames, filenames in os.walk(path, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for filename in filenames:
            if filename.startswith(".") or Path(filename).suffix.lower() not in MEDIA_EXTENSIONS:
                continue
            candidate = Path(dirpath) / filename
            try:
                found.add(resolve_import_path(candidate, roots))
            except InputError as exc:
                log.info("ingest.path_skipped", extra={"path": str(candidate), "reason": str(exc)})
    return sorted(found)


def _resolve_inside(raw: str | Path, roots: Sequence[Path]) -> Path:
    if not roots:
        raise UnsafeSourceError("path ingest is disabled: no import roots are configured (set VIDPIPE_IMPORT_ROOTS)")
    text = os.fspath(raw)
    if not text or "\x00" in text:
        raise InputError("empty or malformed path")
    resolved_roots = [Path(root).resolve() for root in roots]
    # Containment is decided before existence, so paths outside the roots cannot be probed.
    try:
        loose = Path(text).resolve()
    except (OSError, RuntimeError) as exc:  # symlink loops
        raise InputError(f"cannot resolve {text}: {exc}") from exc
    _require_inside(loose, text, resolved_roots)
    try:
        path = Path(text).resolve(strict=True)
    except FileNotFoundError as exc:
        raise InputError(f"no such file: {text}") from exc
    except (OSError, RuntimeError) as exc:
        raise InputError(f"cannot resolve {text}: {exc}") from exc
    _require_inside(path, text, resolved_roots)
    return path


def _require_inside(path: Path, raw: str, roots: list[Path]) -> None:
    if not any(path.is_relative_to(root) for root in roots):
        raise UnsafeSourceError(f"{raw} is outside the import roots")


def _stat(path: Path, raw: str | Path) -> os.stat_result:
    try:
        return path.stat()
    except FileNotFoundError as exc:
        raise InputError(f"no such file: {raw}") from exc
    except OSError as exc:
        raise InputError(f"cannot read {raw}: {exc}") from exc
