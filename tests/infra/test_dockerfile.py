"""The image: what can be checked without a Docker engine (paths, user, health check, real CLI commands)."""

from __future__ import annotations

import fnmatch
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
    logical, buf, heredoc = [], "", None
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if heredoc is not None:  # a RUN heredoc's body belongs to the RUN line before it
            heredoc = None if line == heredoc else heredoc
            continue
        if not buf and (not line or line.startswith("#")):
            continue
        opened = re.search(r"<<-?'?([A-Z]+)'?\s*$", line)
        if opened:
            heredoc = opened.group(1)
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
    assert all(f.split()[0] in ("${PYTHON_IMAGE}", "deps") for f in froms)


def _ignore_patterns() -> list[tuple[bool, str]]:
    """(.dockerignore) patterns as (negated, pattern), in order: the last one that matches decides."""
    out = []
    for raw in (REPO / ".dockerignore").read_text().splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            out.append((line.startswith("!"), line.lstrip("!").rstrip("/")))
    return out


def _in_build_context(relative: str) -> bool:
    """Docker's rule: a path is excluded when the last pattern matching it (or a parent) is not negated."""
    parts = relative.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    included = True
    for negated, pattern in _ignore_patterns():
        anywhere = pattern.startswith("**/")
        names = [c.rsplit("/", 1)[-1] for c in candidates] if anywhere else candidates
        if any(fnmatch.fnmatchcase(n, pattern.removeprefix("**/")) for n in names):
            included = negated
    return included


def test_copied_paths_exist_and_reach_the_build_context() -> None:
    sources = []
    for _, instruction, args in INSTRUCTIONS:
        if instruction in ("COPY", "ADD") and "--from=" not in args:
            words = [w for w in args.split() if not w.startswith("--")]
            sources += words[:-1]
    assert "requirements/lock-image.txt" in sources
    for source in sources:
        assert (REPO / source).exists(), f"COPY source {source} missing from the repo"
        assert _in_build_context(source), f"COPY source {source} excluded by .dockerignore"


def test_build_context_is_small() -> None:
    top = {p.name for p in REPO.iterdir() if _in_build_context(p.name)}
    assert top <= {"Dockerfile", ".dockerignore", "pyproject.toml", "README.md", "vidpipe", "requirements"}
    assert _in_build_context("requirements/lock-image.txt")
    assert not _in_build_context("requirements/image.in")
    assert not _in_build_context("vidpipe/__pycache__/x.pyc") and not _in_build_context("tests/conftest.py")


def test_base_image_is_pinned_by_digest_and_stages_split_dependencies_from_code() -> None:
    base = next(a for _, i, a in INSTRUCTIONS if i == "ARG" and a.startswith("PYTHON_IMAGE="))
    assert re.fullmatch(r"PYTHON_IMAGE=python:3\.11-slim@sha256:[0-9a-f]{64}", base)
    stages = {a.split(" AS ")[-1]: s for s, i, a in INSTRUCTIONS if i == "FROM"}
    assert list(stages) == ["deps", "models", "app", "runtime"]
    deps_copies = [a for s, i, a in INSTRUCTIONS if s == stages["deps"] and i == "COPY"]
    assert deps_copies == ["requirements/lock-image.txt /tmp/lock-image.txt"]  # no code: the layer stays cached
    model_args = [a for s, i, a in INSTRUCTIONS if s == stages["models"] and i == "ARG"]
    assert 'VIDPIPE_MODELS=""' in model_args  # optional weights, off unless the build asks
    env = " ".join(_final("ENV"))
    assert "HF_HUB_OFFLINE=1" in env and "HF_HOME=/opt/models/hf" in env


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
