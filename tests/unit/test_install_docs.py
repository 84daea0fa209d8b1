"""The README's install command gives a CPU-only PyTorch on an ordinary machine, and the gate stays as it was."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def readme_install_lines() -> list[str]:
    block = re.search(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), re.S).group(1)
    return [line for line in block.splitlines() if "pip install" in line]


def test_the_readme_installs_torch_from_the_cpu_wheel_index() -> None:
    lines = readme_install_lines()
    assert lines and all("-r requirements/torch-cpu.txt" in line for line in lines if "[ml]" in line), lines
    options = [line.split() for line in (ROOT / "requirements" / "torch-cpu.txt").read_text().splitlines()
               if line.strip() and not line.startswith("#")]
    assert len(options) == 1 and options[0][0] == "--extra-index-url" and options[0][1].rstrip("/").endswith("/cpu")


def test_torch_is_pinned_exactly_so_the_cpu_build_of_that_version_is_chosen() -> None:
    ml = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["ml"]
    torch = [d for d in ml if re.match(r"torch\b", d)]
    assert torch and re.fullmatch(r"torch==\d+\.\d+\.\d+", torch[0]), torch


def test_the_readme_states_the_install_size_and_a_gpu_alternative() -> None:
    text = (ROOT / "README.md").read_text()
    assert re.search(r"Install size\.\*\* .*\d+(\.\d+)? GB", text, re.S)
    assert "GPU machines" in text


def test_the_gate_does_not_depend_on_the_cpu_index() -> None:
    # CI installs from the machine's own package sources; an unreachable extra index must not slow it down: the
    # first install asks no extra index (the CPU index is only a fallback when the lock cannot be met locally).
    installs = [line for line in (ROOT / "scripts" / "test.sh").read_text().splitlines()
                if "pip install" in line and not line.lstrip().startswith("#")]
    assert installs and "torch-cpu.txt" not in installs[0], installs


def test_the_readme_states_the_install_time_and_where_it_was_measured() -> None:
    text = (ROOT / "README.md").read_text()
    stated = re.search(r"\*\*Install time\.\*\*(.*?)(\n\n|$)", text, re.S)
    assert stated, "the README must state how long its install command takes"
    assert re.search(r"\d+ min", stated.group(1)) and "docs/benchmarks.md" in stated.group(1), stated.group(1)
    bench = (ROOT / "docs" / "benchmarks.md").read_text()
    section = bench[bench.index("## Install"):]
    assert "load average" in section and "pip install -r requirements/torch-cpu.txt" in section
