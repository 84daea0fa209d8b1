"""The lock files are current: every pin of pyproject.toml is locked at that version, every locked package carries
hashes, torch is the CPU build. requirements/lock-image.txt is the image's (dependencies + the ml extra);
requirements/lock-test.txt is what the gate installs (+ the test extra and infra/requirements.txt)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LOCKS = {"image": REPO / "requirements" / "lock-image.txt", "test": REPO / "requirements" / "lock-test.txt"}
_PIN = re.compile(r"^([A-Za-z0-9_.\-]+)(\[[^\]]*\])?==([^;\s]+)")


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _locked(lock: Path) -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes) from a `pip-compile --generate-hashes` style file."""
    entries: dict[str, tuple[str, list[str]]] = {}
    current = None
    for raw in lock.read_text().splitlines():
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


def _pins(kind: str) -> dict[str, str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    specs = [*project["dependencies"], *project["optional-dependencies"]["ml"]]
    if kind == "test":
        specs += project["optional-dependencies"]["test"]
        specs += [ln.split("#")[0].strip() for ln in (REPO / "infra" / "requirements.txt").read_text().splitlines()
                  if ln.split("#")[0].strip()]
    pins = {}
    for spec in specs:
        match = _PIN.match(spec)
        assert match, f"pyproject pins exactly: {spec}"
        pins[_norm(match.group(1))] = match.group(3)
    return pins


@pytest.mark.parametrize("kind", sorted(LOCKS))
def test_every_pyproject_pin_is_locked_at_its_version(kind: str) -> None:
    locked = _locked(LOCKS[kind])
    stale = {name: (version, locked.get(name, ("missing",))[0]) for name, version in _pins(kind).items()
             if locked.get(name, ("",))[0].split("+")[0] != version}  # fmt: skip
    assert not stale, f"{LOCKS[kind].name} is stale (pin, locked): {stale}; run scripts/lock-{kind}.sh"


@pytest.mark.parametrize("kind", sorted(LOCKS))
def test_every_locked_package_has_hashes(kind: str) -> None:
    locked = _locked(LOCKS[kind])
    assert len(locked) > 60
    unhashed = sorted(name for name, (_, hashes) in locked.items() if not hashes)
    assert not unhashed, unhashed


@pytest.mark.parametrize("kind", sorted(LOCKS))
def test_torch_is_the_cpu_build_without_cuda_wheels(kind: str) -> None:
    locked = _locked(LOCKS[kind])
    assert locked["torch"][0] == _pins(kind)["torch"] + "+cpu"
    assert not [name for name in locked if name.startswith(("nvidia-", "triton"))]


def test_the_gate_installs_the_test_lock_with_hashes() -> None:
    gate = (REPO / "scripts" / "test.sh").read_text()
    assert "--require-hashes -r requirements/lock-test.txt" in gate
    assert "--no-deps -e ." in gate  # the project itself adds nothing the lock did not pin


def test_the_dockerfile_installs_the_lock_with_hashes() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    assert "COPY requirements/lock-image.txt" in dockerfile
    assert re.search(r"pip install --require-hashes --no-deps \\\s*\n\s*--extra-index-url https://\S+/whl/cpu "
                     r"-r /tmp/lock-image\.txt", dockerfile)  # the PyTorch CPU wheel index
    assert "huggingface-hub" in _locked(LOCKS["image"])  # the models stage downloads with it
