"""Vendored browser code is exactly what VENDORED.md says it is (name, version, npm source, sha256)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

import vidpipe.web

VENDOR = Path(vidpipe.web.__file__).parent / "static" / "vendor"
ROW = re.compile(r"^\| `(?P<file>[^`]+)` \| (?P<package>[^|]+?) \| (?P<version>[^|]+?) \| (?P<source>[^|]+?) \|"
                 r" [^|]+ \| `(?P<sha256>[0-9a-f]{64})` \|$")


def vendored() -> list[dict[str, str]]:
    rows = [m.groupdict() for line in (VENDOR / "VENDORED.md").read_text().splitlines() if (m := ROW.match(line))]
    assert rows, "VENDORED.md lists no files"
    return rows


@pytest.mark.parametrize("row", vendored(), ids=lambda r: r["file"])
def test_vendored_file_matches_its_recorded_checksum(row: dict[str, str]) -> None:
    data = (VENDOR / row["file"]).read_bytes()
    assert hashlib.sha256(data).hexdigest() == row["sha256"], f"{row['file']} differs from VENDORED.md"
    assert re.fullmatch(r"\d+\.\d+\.\d+", row["version"]), "pin an exact version"
    assert f"{row['package']}@{row['version']}" in row["source"], "the source names the npm package at that version"


def test_hls_js_is_the_pinned_release() -> None:
    text = (VENDOR / "hls.min.js").read_text(errors="replace")
    row = next(r for r in vendored() if r["file"] == "hls.min.js")
    assert row["package"] == "hls.js" and f'"{row["version"]}"' in text  # hls.js carries its version string


def test_every_vendored_file_is_recorded() -> None:
    recorded = {r["file"] for r in vendored()}
    shipped = {p.name for p in VENDOR.iterdir() if p.suffix in (".js", ".css")}
    assert shipped == recorded
