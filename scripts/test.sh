#!/usr/bin/env bash
# The one gate: install into .venv, then lint, check the layers, and run every test tier.
# Used as-is by the README and by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m venv .venv
. .venv/bin/activate
python -m pip install --quiet --upgrade "pip==25.3"
python -m pip install --quiet -e ".[test,ml]"
if [ -f infra/requirements.txt ]; then
  python -m pip install --quiet -r infra/requirements.txt
fi
if [ -x infra/install-tools.sh ]; then
  infra/install-tools.sh
fi

ruff check .
lint-imports   # the layer order of docs/architecture.md (contracts in pyproject.toml)
python -m pytest -q -p no:cacheprovider "$@"
