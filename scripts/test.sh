#!/usr/bin/env bash
# The one gate: install into .venv, then lint, check the layers, and run every test tier.
# Used as-is by the README and by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m venv .venv
. .venv/bin/activate
python -m pip install --quiet --upgrade "pip==25.3"
# Exactly what requirements/lock-test.txt pins (the app, its ml and test extras, the CDK toolchain), each file
# checked against its hash; then vidpipe itself, adding nothing the lock did not pin (scripts/lock-test.sh).
if ! python -m pip install --quiet --require-hashes -r requirements/lock-test.txt; then
  # torch's +cpu wheel is not among this machine's package sources: fetch it from the PyTorch CPU wheel index.
  python -m pip install --quiet --require-hashes -r requirements/lock-test.txt -r requirements/torch-cpu.txt
fi
python -m pip install --quiet --no-deps -e .
if [ -x infra/install-tools.sh ]; then
  infra/install-tools.sh
fi

ruff check .
mypy           # vidpipe/, configured in pyproject.toml [tool.mypy]
lint-imports   # the layer order of docs/architecture.md (contracts in pyproject.toml)
python -m pytest -q -p no:cacheprovider "$@"
