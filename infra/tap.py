#!/usr/bin/env python3
"""CDK entry point: `npx aws-cdk@2 synth` / `deploy` / `destroy` from infra/ (see docs/deploy.md)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from vidpipe_infra.app import build_app  # noqa: E402

if __name__ == "__main__":
    build_app().synth()
