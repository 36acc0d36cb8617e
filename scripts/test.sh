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
exec .venv/bin/python -m pytest "$@"
