"""The image: what can be checked without a Docker engine (paths, user, health check, real CLI commands)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner
from vidpipe_infra.config import API_PORT, APP_UID

from .conftest import IN_CI, REPO

DOCKERFILE = REPO / "Dockerfile"


def parse(path: Path) -> list[tuple[int, str, str]]:
    """(stage index, INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    logical, buf = [], ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not buf and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        logical.append(buf + line)
        buf = ""
    out, stage = [], -1
    for line in logical:
        instruction, _, args = line.partition(" ")
        instruction = instruction.upper()
        if instruction == "FROM":
            stage += 1
        out.append((stage, instruction, args.strip()))
    return out


INSTRUCTIONS = parse(DOCKERFILE)


def _final(instruction: str) -> list[str]:
    last_stage = max(s for s, _, _ in INSTRUCTIONS)
    return [a for s, i, a in INSTRUCTIONS if s == last_stage and i == instruction]


def _exec_form(args: str) -> list[str]:
    value = json.loads(args)
    assert isinstance(value, list), f"use the exec (JSON) form: {args}"
    return value


def test_multi_stage_on_python_slim() -> None:
    froms = [a for _, i, a in INSTRUCTIONS if i == "FROM"]
    assert len(froms) >= 2
    assert all(f.split()[0] == "python:3.11-slim" for f in froms)


def test_copied_paths_exist_and_reach_the_build_context(dev) -> None:
    staged = next(p for p in dev.outdir.glob("asset.*") if (p / "Dockerfile").exists())
    sources = []
    for _, instruction, args in INSTRUCTIONS:
        if instruction in ("COPY", "ADD") and "--from=" not in args:
            words = [w for w in args.split() if not w.startswith("--")]
            sources += words[:-1]
    assert sources
    for source in sources:
        assert (REPO / source).exists(), f"COPY source {source} missing from the repo"
        assert (staged / source).exists(), f"COPY source {source} excluded by .dockerignore"


def test_build_context_is_small(dev) -> None:
    staged = next(p for p in dev.outdir.glob("asset.*") if (p / "Dockerfile").exists())
    top = {p.name for p in staged.iterdir()}
    assert top <= {"Dockerfile", ".dockerignore", "pyproject.toml", "README.md", "vidpipe"}
    assert not list(staged.rglob("__pycache__"))


def test_runs_as_non_root() -> None:
    users = _final("USER")
    assert users, "the final stage must switch user"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")
    assert user == str(APP_UID), "the EFS access point writes as this uid"


def test_health_check_hits_healthz_with_python() -> None:
    (check,) = [a for _, i, a in INSTRUCTIONS if i == "HEALTHCHECK"]
    command = _exec_form(check.split(" CMD ", 1)[1])
    assert command[:2] == ["python", "-c"]
    assert f"http://127.0.0.1:{API_PORT}/healthz" in command[2]
    assert [a for _, i, a in INSTRUCTIONS if i == "EXPOSE"] == [str(API_PORT)]


def test_entrypoint_is_the_vidpipe_console_script() -> None:
    (entrypoint,) = _final("ENTRYPOINT")
    assert _exec_form(entrypoint) == ["vidpipe"]
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["vidpipe"] == "vidpipe.cli.main:app"


def _commands_run_by_the_stack(dev) -> list[list[str]]:
    found = []
    for task in dev.resources("AWS::ECS::TaskDefinition").values():
        for container in task["Properties"]["ContainerDefinitions"]:
            found.append(container["Command"])
    return found


def test_every_command_is_a_real_cli_command(dev) -> None:
    from vidpipe.cli.main import app  # the Typer app behind the `vidpipe` console script

    (cmd,) = _final("CMD")
    commands = [_exec_form(cmd), *_commands_run_by_the_stack(dev)]
    assert sorted(map(tuple, commands)) == [
        ("consume-kinesis",), ("db", "upgrade"), ("serve",), ("serve",), ("worker",)
    ]  # fmt: skip
    runner = CliRunner()
    for command in commands:
        result = runner.invoke(app, [*command, "--help"])
        assert result.exit_code == 0, (command, result.output)
        assert "Usage" in result.output


def test_hadolint() -> None:
    hadolint = Path(os.environ.get("VIDPIPE_HADOLINT", REPO / ".venv-infra" / "bin" / "hadolint"))
    if not hadolint.exists():
        if IN_CI:
            pytest.fail("hadolint missing: run `bash infra/install-tools.sh` (or set VIDPIPE_HADOLINT)")
        pytest.skip("hadolint not installed: bash infra/install-tools.sh")
    proc = subprocess.run([str(hadolint), "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_read_only_root_needs_only_the_declared_volumes() -> None:
    """ECS mounts /tmp and /mnt/scratch; /tmp must be a VOLUME so the task volume inherits mode 1777."""
    volumes = [v for a in _final("VOLUME") for v in _exec_form(a)]
    assert volumes == ["/tmp"]
    env = " ".join(_final("ENV"))
    assert re.search(r"VIDPIPE_DATA_DIR=/tmp/vidpipe\b", env)
    assert "chown 10001:10001 /mnt/scratch" in " ".join(_final("RUN"))
