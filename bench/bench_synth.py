"""Synthesis cost of the CDK app: wall time per cold synth (fresh process) and the template's size.

Usage: python bench/bench_synth.py [--runs 3] [--suffix dev --suffix prod]
Each run is a new Python process (jsii starts its Node runtime each time, as `cdk synth` does).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHILD = """
import json, sys, time
t0 = time.perf_counter()
sys.path.insert(0, {infra!r})
from vidpipe_infra.app import build_app
t1 = time.perf_counter()
ctx = json.load(open({cdk_json!r}))["context"]
app = build_app(context={{**ctx, "environmentSuffix": {suffix!r}}}, outdir={outdir!r})
app.synth()
t2 = time.perf_counter()
print(json.dumps({{"import_s": t1 - t0, "synth_s": t2 - t1}}))
"""


def one_run(suffix: str) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="bench-synth-") as outdir:
        code = CHILD.format(
            infra=str(REPO / "infra"), cdk_json=str(REPO / "infra" / "cdk.json"), suffix=suffix, outdir=outdir
        )
        env = {**os.environ, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
        started = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
        wall = time.perf_counter() - started
        inner = json.loads(out.stdout.strip().splitlines()[-1])
        template = Path(outdir) / f"Vidpipe-{suffix}.template.json"
        body = json.loads(template.read_text())
        return {
            "wall_s": wall,
            **inner,
            "template_bytes": template.stat().st_size,
            "template_minified_bytes": len(json.dumps(body, separators=(",", ":"))),
            "resources": len(body["Resources"]),
            "outputs": len(body.get("Outputs", {})),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--suffix", action="append")
    args = parser.parse_args()
    for suffix in args.suffix or ["dev", "prod"]:
        runs = [one_run(suffix) for _ in range(args.runs)]
        median = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        print(
            f"{suffix}: wall {median['wall_s']:.1f} s (import {median['import_s']:.1f} s, "
            f"synth+cdk-nag {median['synth_s']:.1f} s), template {median['template_bytes'] / 1024:.0f} KiB "
            f"({median['template_minified_bytes'] / 1024:.0f} KiB minified; CloudFormation's limit is 1 MiB "
            f"via S3), {median['resources']:.0f} resources, {median['outputs']:.0f} outputs "
            f"[median of {args.runs}; min wall {min(r['wall_s'] for r in runs):.1f} s]"
        )


if __name__ == "__main__":
    main()
