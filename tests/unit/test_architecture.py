"""The layer order of docs/architecture.md holds, and the contract really catches a wrong-way import."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINT = [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command as c; sys.exit(c())"]


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run([*LINT, "--config", str(tree / "pyproject.toml"), "--no-cache"], cwd=tree, env=env,
                          capture_output=True, text=True, timeout=300)


def _copy_package(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "vidpipe", tmp_path / "vidpipe", ignore=shutil.ignore_patterns("static", "templates",
                                                                                           "__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_package_keeps_its_layers():
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_an_import_from_a_lower_layer_up_is_caught(tmp_path):
    tree = _copy_package(tmp_path)
    probe = tree / "vidpipe" / "ffmpeg" / "probe.py"
    probe.write_text(probe.read_text() + "\nfrom vidpipe.db import assets  # noqa: E402 - the deliberate mistake\n")
    result = _lint(tree)
    assert result.returncode != 0
    assert "vidpipe.ffmpeg is not allowed to import vidpipe.db" in result.stdout


def test_an_import_cycle_between_siblings_is_caught(tmp_path):
    tree = _copy_package(tmp_path)
    common = tree / "vidpipe" / "cli" / "common.py"
    common.write_text(common.read_text() + "\nfrom vidpipe.cli import main  # noqa: E402 - the deliberate cycle\n")
    result = _lint(tree)
    assert result.returncode != 0
    assert "No cycles are allowed in vidpipe.cli" in result.stdout


def test_sql_spells_no_state_itself():
    """States have one spelling (vidpipe.states): raw SQL and index predicates interpolate `sql_literal`, so a
    renamed state cannot leave a statement matching nothing. Migrations keep what they created."""
    import re

    root = Path(__file__).resolve().parents[2] / "vidpipe"
    literal = re.compile(r"status\s*(=|<>|!=|IN)\s*\(?\s*'", re.IGNORECASE)
    offenders = [f"{path.relative_to(root)}:{n}" for path in root.rglob("*.py") if "migrations" not in path.parts
                 for n, line in enumerate(path.read_text().splitlines(), 1) if literal.search(line)]
    assert offenders == []
