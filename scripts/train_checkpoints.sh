#!/usr/bin/env bash
# Reproduces the shipped checkpoints and the ablation table (CPU, 2 cores: a few hours).
#   baseline: stage-1 decoder trained for N1+N2 steps (cosine schedule)
#   default:  stage 2 (restoration + invertible stages + AV-LFE) trained for N2 steps from the
#             baseline run's step-N1 snapshot, so both models get N1+N2 optimisation steps.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin/iid-rdepth}
N1=${N1:-1500}
N2=${N2:-600}
DATA=${DATA:-data/synth}
OUT=${OUT:-out/train}

# Disjoint seeds: train 1, validation 2, test 3 (the demo uses 9001).
[ -f "$DATA/train/meta.json" ] || $BIN synth --out "$DATA/train" --frames 1600 --seed 1
[ -f "$DATA/val/meta.json" ] || $BIN synth --out "$DATA/val" --frames 100 --seed 2
[ -f "$DATA/test/meta.json" ] || $BIN synth --out "$DATA/test" --frames 200 --seed 3

$BIN train --stage 1 --train-dir "$DATA/train" --val-dir "$DATA/val" --out "$OUT/baseline" \
  --steps1 $((N1 + N2)) --snapshot-at "$N1" --batch-size 8 --threads 2 --cache disk \
  --set val_every=500 --set ckpt_every=250
$BIN train --stage 2 --train-dir "$DATA/train" --val-dir "$DATA/val" --out "$OUT/default" \
  --init-from "$OUT/baseline/stage1_step$N1" --steps2 "$N2" --batch-size 8 --threads 2 \
  --cache disk --set val_every=200 --set ckpt_every=100 --set stage2.new_lr_scale=5

.venv/bin/python scripts/ablation.py --baseline "$OUT/baseline/stage1" \
  --default "$OUT/default/stage2" --test "$DATA/test" --publish
