#!/usr/bin/env bash
# Set up and run the whole test suite: unit + AppTest + real-browser (Chromium from Debian).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --dev
if [ ! -x /usr/bin/chromium ] || ! command -v haproxy >/dev/null || ! command -v turnserver >/dev/null; then
  echo "installing Debian's Chromium, HAProxy and coturn for the browser tests"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver haproxy coturn >/dev/null
fi
export FER_DATA="${FER_DATA:-$(cd .. && pwd)/shared/data/fer2013.csv.gz}"
# Two pytest-xdist workers: one runs the browser tests (they wait on servers and streams), the other
# the unit tests beside them; FER_TEST_WORKERS changes the count (0: one process, no xdist).
exec .venv/bin/python -m pytest -n "${FER_TEST_WORKERS:-2}" --dist loadgroup "$@"
