"""The image's lock file (requirements/lock-image.txt) is current: every pin of pyproject.toml (dependencies and
the `ml` extra) is locked at that version, every locked package carries hashes, torch is the CPU build."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LOCK = REPO / "requirements" / "lock-image.txt"
_PIN = re.compile(r"^([A-Za-z0-9_.\-]+)(\[[^\]]*\])?==([^;\s]+)")


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _locked() -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes) from a `pip-compile --generate-hashes` style file."""
    entries: dict[str, tuple[str, list[str]]] = {}
    current = None
    for raw in LOCK.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _PIN.match(line)
        if match:
            current = _norm(match.group(1))
            entries[current] = (match.group(3), [])
        for digest in re.findall(r"--hash=sha256:([0-9a-f]{64})", line):
            assert current is not None, raw
            entries[current][1].append(digest)
    return entries


def _pins() -> dict[str, str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    pins = {}
    for spec in [*project["dependencies"], *project["optional-dependencies"]["ml"]]:
        match = _PIN.match(spec)
        assert match, f"pyproject pins exactly: {spec}"
        pins[_norm(match.group(1))] = match.group(3)
    return pins


def test_every_pyproject_pin_is_locked_at_its_version() -> None:
    locked = _locked()
    stale = {name: (version, locked.get(name, ("missing",))[0]) for name, version in _pins().items()
             if locked.get(name, ("",))[0].split("+")[0] != version}  # fmt: skip
    assert not stale, f"requirements/lock-image.txt is stale (pin, locked): {stale}; run scripts/lock-image.sh"


def test_every_locked_package_has_hashes() -> None:
    locked = _locked()
    assert len(locked) > 60
    unhashed = sorted(name for name, (_, hashes) in locked.items() if not hashes)
    assert not unhashed, unhashed


def test_torch_is_the_cpu_build_without_cuda_wheels() -> None:
    locked = _locked()
    assert locked["torch"][0] == _pins()["torch"] + "+cpu"
    assert not [name for name in locked if name.startswith(("nvidia-", "triton"))]


def test_the_dockerfile_installs_the_lock_with_hashes() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    assert "COPY requirements/lock-image.txt" in dockerfile
    assert re.search(r"pip install --require-hashes --no-deps \\\s*\n\s*--extra-index-url https://\S+/whl/cpu "
                     r"-r /tmp/lock-image\.txt", dockerfile)  # the PyTorch CPU wheel index
    assert "huggingface-hub" in _locked()  # the models stage downloads with it
