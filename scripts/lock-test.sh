#!/usr/bin/env bash
# Regenerate requirements/lock-test.txt (what the gate installs: pyproject's dependencies + the ml and test extras +
# infra/requirements.txt, with hashes) after changing a pin. Needs `uv` (pip install uv) and the torch +cpu wheel:
# FIND_LINKS=<dir holding it>, else the PyTorch CPU wheel index of requirements/torch-cpu.txt.
# tests/unit/test_locks.py fails until the lock matches the pins.
set -euo pipefail
cd "$(dirname "$0")/.."
torch_index=$(grep -o -- '--extra-index-url [^ ]*' requirements/torch-cpu.txt | head -n1 | cut -d' ' -f2)
source_args=(--extra-index-url "$torch_index" --index-strategy unsafe-best-match)
if [ -n "${FIND_LINKS:-}" ]; then
  source_args=(--find-links "$FIND_LINKS")
fi
uv pip compile pyproject.toml infra/requirements.txt --extra ml --extra test \
  --override requirements/torch-cpu-override.txt --generate-hashes --python-version 3.11 \
  --python-platform x86_64-manylinux_2_28 --no-header "${source_args[@]}" -o requirements/lock-test.txt.new
{
  echo "# What scripts/test.sh installs (pip --require-hashes): pyproject.toml + its ml and test extras +"
  echo "# infra/requirements.txt, for linux/amd64, CPython 3.11; torch is the +cpu build."
  echo "# Regenerate with scripts/lock-test.sh; tests/unit/test_locks.py checks it against the pins."
  cat requirements/lock-test.txt.new
} > requirements/lock-test.txt
rm requirements/lock-test.txt.new
