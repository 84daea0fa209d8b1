#!/usr/bin/env python3
"""Kept for old commands: the entry point is infra/tap.py (cdk.json runs it)."""

from __future__ import annotations

import runpy
from pathlib import Path

if __name__ == "__main__":
    runpy.run_path(str(Path(__file__).with_name("tap.py")), run_name="__main__")
