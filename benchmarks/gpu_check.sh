#!/usr/bin/env bash
# One prepared GPU session: paper-preset training throughput (eager, channels_last, torch.compile; bf16)
# and a short paper-preset GAAE run on the instrument corpus, with the CNN baselines at the same
# budget. Every stage writes into OUT as it finishes, so a stage that fails or runs out of time
# leaves the others' results.
#
#   benchmarks/gpu_check.sh CORPUS_ROOT OUT [DEADLINE_S]
#
# CORPUS_ROOT holds nsynth-train/ and nsynth-test/ (examples.json + audio/*.wav or *.flac: FLAC files
# are decoded to WAV first, which is how the corpus travels to a machine with a small upload limit).
# No stage starts once DEADLINE_S seconds (default 520) have passed since the start, or with less time
# left than it needs (its second number); a stage's timeout is cut to the time left.
# SKIP="stage ..." leaves stages out. DEVICE, PRESET, BENCH_BATCH, FIT_BATCH, GAAE_STEPS (defaults cuda, paper, 128, 64, 500) shrink it for
# a dry run on a CPU, e.g. DEVICE=cpu PRESET=cpu BENCH_BATCH=4 FIT_BATCH=4 GAAE_STEPS=4.
set -uo pipefail
root=$1 out=$2 deadline=${3:-520}
device=${DEVICE:-cuda} preset=${PRESET:-paper} bb=${BENCH_BATCH:-128} fb=${FIT_BATCH:-64}
export PYTHONUNBUFFERED=1
start=$(date +%s)
mkdir -p "$out"
left() { echo $((deadline - ($(date +%s) - start))); }
stage() {  # stage NAME MIN_LEFT_S TIMEOUT_S CMD...: run CMD under a timeout if time is left
  local name=$1 need=$2 limit=$3; shift 3
  case " ${SKIP:-} " in *" $name "*) echo "== skip $name (SKIP)"; return ;; esac
  if [ "$(left)" -lt "$need" ]; then echo "== skip $name ($(left) s left)"; return; fi
  [ "$limit" -gt "$(left)" ] && limit=$(left)
  echo "== $name (limit ${limit} s, t=$(($(date +%s) - start)) s)"
  local t0=$(date +%s)
  timeout "$limit" "$@" >"$out/$name.log" 2>&1
  echo "== $name: rc $? in $(($(date +%s) - t0)) s"
  tail -n 4 "$out/$name.log"
}

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null | tee "$out/gpu.txt"
python3 -c "import torch, zarr, dask; print('torch', torch.__version__, 'zarr', zarr.__version__, 'dask', dask.__version__)" \
  | tee -a "$out/gpu.txt"

# 0. the corpus as WAV files, then the caches (the test split normalised with the training statistics)
data=/tmp/gpu_check
mkdir -p "$data"
python3 - "$root" "$data/nsynth" <<'EOF'
import os, shutil, sys
from pathlib import Path
import soundfile as sf
src, dst = Path(sys.argv[1]), Path(sys.argv[2])
for split in ("nsynth-train", "nsynth-test"):
    (dst / split / "audio").mkdir(parents=True, exist_ok=True)
    shutil.copy(src / split / "examples.json", dst / split / "examples.json")
    for f in sorted((src / split / "audio").iterdir()):
        y, sr = sf.read(f, dtype="int16")
        sf.write(dst / split / "audio" / (f.stem + ".wav"), y, sr, subtype="PCM_16")
print("corpus:", {s: len(os.listdir(dst / s / "audio")) for s in ("nsynth-train", "nsynth-test")})
EOF
stage cache_train 30 120 audiospec build-cache nsynth "$data/nsynth" "$data/train.zarr" --sources all --quiet
stage cache_test 20 120 audiospec build-cache nsynth "$data/nsynth" "$data/test.zarr" --split test --sources all \
  --stats-from "$data/train.zarr" --quiet

# 1. throughput of the paper preset at the paper's batch (128 + 32 labelled), bf16
stage bench_eager 100 120 python3 benchmarks/bench_training.py --device "$device" --preset "$preset" --batch-size "$bb" \
  --variants eager,channels_last --steps 10 --warmup 3 --out "$out/training_gpu_eager.json"

# 2. a short paper-preset GAAE run (5 % labels) and the CNNs at the same items (steps x batch)
steps=${GAAE_STEPS:-500}
stage fit_gaae 200 300 gaae fit "$data/train.zarr" --out "$data/runs/gaae5" --preset "$preset" --device "$device" \
  --labelled-fraction 0.05 --steps "$steps" --batch-size "$fb" --seed 0 --eval-cache "$data/test.zarr" \
  --set train.eval_every=100 --set train.health_every=50 --set train.sample_every="$steps" \
  --set train.checkpoint_every="$steps" --quiet
stage fit_cnn5 50 60 gaae fit "$data/train.zarr" --out "$data/runs/cnn5" --model cnn --device "$device" \
  --labelled-fraction 0.05 --steps "$((steps * 2))" --batch-size "$((fb / 2))" --seed 0 --eval-cache "$data/test.zarr" \
  --set train.eval_every=100 --quiet
stage fit_cnn100 40 60 gaae fit "$data/train.zarr" --out "$data/runs/cnn100" --model cnn --device "$device" \
  --steps "$((steps * 2))" --batch-size "$((fb / 2))" --seed 0 --eval-cache "$data/test.zarr" --set train.eval_every=100 --quiet
for r in gaae5 cnn5 cnn100; do
  [ -f "$data/runs/$r/log.jsonl" ] && cp "$data/runs/$r/log.jsonl" "$out/${r}_log.jsonl"
  [ -f "$data/runs/$r/summary.json" ] && cp "$data/runs/$r/summary.json" "$out/${r}_summary.json"
done
[ -f "$data/runs/gaae5/config.json" ] && cp "$data/runs/gaae5/config.json" "$out/gaae5_config.json"
[ -f "$data/runs/gaae5/log.png" ] && cp "$data/runs/gaae5/log.png" "$out/gaae5_log.png"
s=$(ls "$data"/runs/gaae5/samples/step-*.png 2>/dev/null | tail -n 1)
[ -n "$s" ] && cp "$s" "$out/gaae5_samples.png"

# 3. torch.compile of the training step, whatever time is left
stage bench_compile 60 400 python3 benchmarks/bench_training.py --device "$device" --preset "$preset" --batch-size "$bb" \
  --variants compile --steps 10 --warmup 3 --out "$out/training_gpu_compile.json"
echo "== done at t=$(($(date +%s) - start)) s"
