"""Client-supplied file names, reduced to something safe to display. Names are never used as paths."""

from __future__ import annotations

import re
import unicodedata

FALLBACK_NAME = "upload"

# Longest suffix we still treat as an extension; "report.final-draft-version2" has none.
_MAX_EXTENSION = 16
_EXTENSION_RE = re.compile(rf"\.[A-Za-z0-9]{{1,{_MAX_EXTENSION - 1}}}")
_SAFE_EXTENSION_RE = re.compile(rf"\.[a-z0-9]{{1,{_MAX_EXTENSION - 1}}}")
# Characters that are separators, reserved on Windows, or need escaping in a quoted header value.
_REPLACED = str.maketrans({c: "_" for c in '<>:"|?*'})
# Unicode categories dropped outright: controls, format characters (bidi overrides, zero-width,
# BOM), line/paragraph separators, surrogates (undecodable bytes), private use and unassigned.
_DROPPED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"})
_WHITESPACE_RE = re.compile(r"\s+")


def sanitize_filename(name: str, *, max_length: int = 200) -> str:
    """A display-safe base name: no directories, controls or bidi tricks; extension kept; never empty."""
    if max_length < 1:
        raise ValueError("max_length must be positive")
    text = unicodedata.normalize("NFC", str(name))
    text = "".join(_clean_char(c) for c in text)
    text = _last_component(text).translate(_REPLACED)
    text = _WHITESPACE_RE.sub(" ", text)
    # Leading dots hide files and spell "..". Trailing dots and spaces are dropped by Windows.
    text = text.lstrip(". ").rstrip(". ")
    if not text:
        return FALLBACK_NAME
    return _truncate(text, max_length)


def guess_extension(name: str) -> str:
    """The lower-case extension of `name` with its dot (".mp4"), or "" when there is no safe one."""
    extension = _split_extension(sanitize_filename(name))[1].lower()
    return extension if _SAFE_EXTENSION_RE.fullmatch(extension) else ""


def _clean_char(char: str) -> str:
    category = unicodedata.category(char)
    if category in _DROPPED_CATEGORIES:
        # Tabs and newlines separate words; NUL, DEL and bidi overrides separate nothing.
        return " " if char.isspace() else ""
    return char


def _last_component(text: str) -> str:
    # Both separators: a name from a Windows client ("C:\\Users\\me\\a.mp4") is a path there.
    parts = [p for p in re.split(r"[/\\]", text) if p.strip(" .")]
    return parts[-1] if parts else ""


def _split_extension(text: str) -> tuple[str, str]:
    dot = text.rfind(".")
    if dot <= 0:
        return text, ""
    stem, extension = text[:dot], text[dot:]
    if not _EXTENSION_RE.fullmatch(extension) or not stem.strip(" ."):
        return text, ""
    return stem, extension


def _truncate(text: str, max_length: int) -> str:
    if len(text) <= max_length:
        return text
    stem, extension = _split_extension(text)
    if len(extension) >= max_length:
        return text[:max_length].rstrip(". ") or FALLBACK_NAME[:max_length]
    stem = stem[: max_length - len(extension)].rstrip(". ")
    return (stem or FALLBACK_NAME[: max_length - len(extension)]) + extension
