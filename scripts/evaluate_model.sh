#!/usr/bin/env bash
# Score a trained model folder the honest way and keep the results with it:
#   1. choose its default test-time augmentation on PublicTest (never PrivateTest);
#   2. record PublicTest and PrivateTest metrics, without TTA and with the chosen default.
# Usage: bash scripts/evaluate_model.sh models/student16 [DATA]
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:?usage: evaluate_model.sh MODEL_DIR [DATA]}
data=${2:-${FER_DATA:-../shared/data/fer2013.csv.gz}}
py=.venv/bin/python
$py -m fer_core select-tta --model "$model" --data "$data"
for split in PublicTest PrivateTest; do
  $py -m fer_core evaluate --model "$model" --data "$data" --split "$split" --tta none --record
  $py -m fer_core evaluate --model "$model" --data "$data" --split "$split" --record
done
