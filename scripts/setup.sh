#!/usr/bin/env bash
# Create .venv and install the runtime (and, with --dev, the test) requirements. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
req=requirements.txt
[ "${1:-}" = "--dev" ] && req=requirements-dev.txt
# Skip pip when nothing changed since the last install (a fresh machine always installs).
stamp=".venv/.installed-$(cat requirements*.txt | sha256sum | cut -c1-16)-$(basename $req .txt)"
if [ ! -f "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -r "$req"
  touch "$stamp"
fi
