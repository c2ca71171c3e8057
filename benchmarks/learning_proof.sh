#!/usr/bin/env bash
# The GAAE learning proof: GAAE 5 %, CNN 5 % and CNN 100 % on 3 seeds (the guidance subset redrawn
# per seed), the supervised BigGAN on one seed, all at one step x batch budget, on one corpus; then
# `gaae evaluate` over every run. Re-running continues where it stopped (unfinished runs resume
# exactly with --resume; finished ones, those with a summary.json, are skipped).
#
#   benchmarks/learning_proof.sh TRAIN.zarr TEST.zarr OUT [GAAE_STEPS] [SEEDS]
#
# GAAE_STEPS x 8 items is the budget (default 400 x 8 = 3200 items); the CNNs train
# GAAE_STEPS / 2 steps of 16. Threads: OMP_NUM_THREADS (default 2).
set -euo pipefail
train=$1 test=$2 out=$3 steps=${4:-400} seeds=${5:-"0 1 2"}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
mkdir -p "$out/runs"
cnn_steps=$((steps / 2))

fit() {  # fit NAME ARGS...: train unless finished, resuming an interrupted run
  local name=$1; shift
  local dir="$out/runs/$name"
  if [ -f "$dir/summary.json" ]; then echo "done: $name"; return; fi
  local resume=()
  if [ -f "$dir/config.json" ]; then resume=(--resume); fi
  echo "fit: $name"
  gaae fit "$train" --out "$dir" --eval-cache "$test" --quiet "${resume[@]}" "$@" >"$out/runs/$name.log" 2>&1
}

for seed in $seeds; do
  fit "gaae5_s$seed" --labelled-fraction 0.05 --steps "$steps" --batch-size 8 --seed "$seed" \
    --set train.eval_every=100 --set train.sample_every="$steps"
  fit "cnn5_s$seed" --model cnn --labelled-fraction 0.05 --steps "$cnn_steps" --batch-size 16 --seed "$seed" \
    --set train.eval_every=50
  fit "cnn100_s$seed" --model cnn --steps "$cnn_steps" --batch-size 16 --seed "$seed" --set train.eval_every=50
done
first=$(echo "$seeds" | awk '{print $1}')
fit "biggan_sup_s$first" --model biggan-supervised --steps "$steps" --batch-size 8 --seed "$first" \
  --set train.sample_every="$steps"
