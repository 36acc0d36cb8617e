#!/usr/bin/env bash
# Create .venv and install the runtime (no TensorFlow), then the package itself, so that `fer-studio` is on
# .venv/bin (`fer-studio app` starts the studio). --train adds TensorFlow (requirements-train.txt: train,
# export, the Keras runtime); --dev adds it and the test tools (requirements-dev.txt). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
req=requirements.txt
case "${1:-}" in
  --dev) req=requirements-dev.txt ;;
  --train) req=requirements-train.txt ;;
  "") ;;
  *) echo "setup.sh: unknown option '$1' (expected --train or --dev)" >&2; exit 2 ;;
esac
# Skip pip when nothing changed since the last install (a fresh machine always installs).
stamp=".venv/.installed-$(cat requirements*.txt | sha256sum | cut -c1-16)-$(basename $req .txt)"
if [ ! -f "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -r "$req"
  # the package, editable and without re-resolving its dependencies (the pinned files above chose them)
  .venv/bin/python -m pip install -q --no-deps -e .
  touch "$stamp"
fi
