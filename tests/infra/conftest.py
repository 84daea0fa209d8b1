"""Synthesize the CDK app once per session (dev and prod profiles) and share the results with every test."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

# jsii's Node runtime prints a banner about Node 20's end of life; it is not a test signal.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra"
sys.path.insert(0, str(INFRA))
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@dataclass
class Synth:
    suffix: str
    outdir: Path
    template: dict[str, Any]
    report: dict[str, Any]
    error: str | None
    app: Any
    stack: Any
    seconds: float

    def resources(self, type_: str) -> dict[str, dict[str, Any]]:
        """Logical id -> resource, for one CloudFormation type."""
        return {k: v for k, v in self.template["Resources"].items() if v["Type"] == type_}

    def one(self, type_: str) -> tuple[str, dict[str, Any]]:
        found = self.resources(type_)
        assert len(found) == 1, f"expected one {type_}, found {sorted(found)}"
        return next(iter(found.items()))

    def props(self, type_: str) -> dict[str, Any]:
        return self.one(type_)[1]["Properties"]

    def logical_id(self, path: str) -> str:
        """Logical id of the CloudFormation resource under a construct path relative to the stack."""
        node = self.stack.node.find_child(path.split("/")[0])
        for part in path.split("/")[1:]:
            node = node.node.find_child(part)
        cfn = node if hasattr(node, "logical_id") else node.node.default_child
        return self.stack.resolve(cfn.logical_id)


def cdk_context() -> dict[str, Any]:
    context = json.loads((INFRA / "cdk.json").read_text())["context"]
    return {**context, "aws:cdk:enable-path-metadata": True}


def synthesize(suffix: str, outdir: Path) -> Synth:
    import time

    from vidpipe_infra.app import build_app

    started = time.perf_counter()
    app = build_app(context={**cdk_context(), "environmentSuffix": suffix}, outdir=str(outdir))
    error = None
    try:
        app.synth()
    except RuntimeError as exc:  # cdk-nag / validation failures: the templates are still written
        error = str(exc)
    seconds = time.perf_counter() - started
    stack = app.node.find_child(f"Vidpipe-{suffix}")
    template = json.loads((outdir / f"Vidpipe-{suffix}.template.json").read_text())
    report_path = outdir / "validation-report.json"
    report = json.loads(report_path.read_text()) if report_path.exists() else {"pluginReports": []}
    return Synth(suffix, outdir, template, report, error, app, stack, seconds)


@pytest.fixture(scope="session")
def synth_root() -> Iterator[Path]:
    # Outside the repository: the image asset stages the repo root, and must not stage itself.
    with tempfile.TemporaryDirectory(prefix="vidpipe-cdk-") as root:
        yield Path(root)


@pytest.fixture(scope="session")
def dev(synth_root: Path) -> Synth:
    return synthesize("dev", synth_root / "dev")


@pytest.fixture(scope="session")
def prod(synth_root: Path) -> Synth:
    return synthesize("prod", synth_root / "prod")
