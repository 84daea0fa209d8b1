#!/usr/bin/env bash
# Regenerate requirements/lock-image.txt (every dependency of the image, with hashes) after changing a pin in
# pyproject.toml. Needs `uv` (pip install uv) and the PyTorch CPU wheel index (or a directory holding the
# torch +cpu wheel, as FIND_LINKS). tests/unit/test_locks.py fails until the lock matches the pins.
set -euo pipefail
cd "$(dirname "$0")/.."
# The CPU wheel index the image build uses (named once, in the Dockerfile).
torch_index=$(grep -o -- '--extra-index-url [^ ]*' Dockerfile | head -n1 | cut -d' ' -f2)
source_args=(--extra-index-url "$torch_index" --index-strategy unsafe-best-match)
if [ -n "${FIND_LINKS:-}" ]; then
  source_args=(--find-links "$FIND_LINKS")
fi
uv pip compile pyproject.toml requirements/image.in --extra ml --override requirements/torch-cpu-override.txt \
  --generate-hashes --python-version 3.11 --python-platform x86_64-manylinux_2_28 --no-header \
  "${source_args[@]}" -o requirements/lock-image.txt.new
{
  echo "# The image's dependencies (pyproject.toml + its ml extra + requirements/image.in), for linux/amd64,"
  echo "# CPython 3.11, with hashes; torch is the +cpu build from the PyTorch CPU wheel index."
  echo "# Regenerate with scripts/lock-image.sh; tests/unit/test_locks.py checks it against pyproject.toml."
  cat requirements/lock-image.txt.new
} > requirements/lock-image.txt
rm requirements/lock-image.txt.new
