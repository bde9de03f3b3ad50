#!/usr/bin/env bash
# GPU check for issue 4, on a CUDA machine without network, in about 4-5 minutes:
#   1. the GPU-only tests (pytest -m gpu): bf16 + channels-last, torch.compile, frozen layers, the pinned-buffer loader, the CLI
#   2. the benchmark (python -m transfer_lab.bench): CaffeNet, 227 px crops of a 256 px cache,
#      k = 0 and k = 5 frozen, eager and torch.compile, model-only / input-only / full path
# Figures and logs go to $OUT (default ./gpu_check_out): bench-eager-bar.{txt,json} (progress bar
# on as in a default run), bench-eager.{txt,json} and bench-compile.{txt,json} (bar off), gpu_tests.txt, device.txt.
#
# Needs torch, torchvision, pytorch-lightning, torchmetrics (on the machine) and, as wheels in .whl/
# if missing there: hydra-core, omegaconf, antlr4-python3-runtime==4.9.3, pytest, iniconfig, pluggy
# (PyYAML, packaging, filelock, tqdm, Pillow, numpy if absent too).
set -uo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
OUT=${OUT:-$REPO/gpu_check_out}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
fi
export PYTHONPATH=/tmp/site:$PWD
export WANDB_MODE=offline PYTHONUNBUFFERED=1

# Without an install, transfer_lab.conf is not importable: link conf/ where the installed package has it.
if [ ! -e transfer_lab/conf ]; then
  ln -s ../conf transfer_lab/conf
  trap 'rm -f "$REPO/transfer_lab/conf"' EXIT
fi

missing=$(python3 - <<'PY'
import importlib
names = ["torch", "torchvision", "pytorch_lightning", "torchmetrics", "hydra", "omegaconf", "antlr4", "yaml", "pytest", "filelock", "tqdm", "PIL", "numpy"]
print(" ".join(n for n in names if importlib.util.find_spec(n) is None))
PY
)
if [ -n "$missing" ]; then
  echo "gpu_check: missing Python packages: $missing (put their wheels in .whl/)" | tee "$OUT/error.txt"
  exit 1
fi

{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  python3 -c "import torch, pytorch_lightning as pl; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'lightning', pl.__version__, 'cpus', __import__('os').cpu_count())"
} 2>&1 | tee "$OUT/device.txt"

start=$SECONDS
echo "== GPU-only tests"
timeout 150 python3 -m pytest -q -m gpu -p no:cacheprovider tests 2>&1 | tail -25 | tee "$OUT/gpu_tests.txt"
echo "tests: $((SECONDS - start)) s"

# 20k training images: half B holds ~39 batches of 256, so warmup + timed steps stay inside one
# epoch, as in real training (an epoch of an ImageNet half is ~2500 batches).
WORK=$(mktemp -d)
echo "== synthetic tree and 256 px cache in $WORK"
python3 -m transfer_lab.synthetic_imagenet "$WORK/tree" --classes 10 --per-class 2000 --val-per-class 10 --size 64
python3 -m transfer_lab.prepare --no-progress data=imagenet "data.root=$WORK/tree" "paths.root=$WORK/out" 2>&1 | tail -4
echo "tree + cache: $((SECONDS - start)) s"

BENCH=(--warmup 5 --steps 30 data=imagenet "data.root=$WORK/tree" "paths.root=$WORK/out")
# A run's defaults: each progress-bar refresh (every 10 steps) converts its metrics with .item(), a GPU sync.
echo "== benchmark, eager (bf16 + channels_last), a run's defaults (progress bar refreshed every 10 steps)"
timeout 120 python3 -m transfer_lab.bench --ks 0,5 --out "$OUT/bench-eager-bar.json" "${BENCH[@]}" \
  2> "$OUT/bench-eager-bar.log" | tee "$OUT/bench-eager-bar.txt"
echo "== benchmark, eager, progress bar off"
timeout 90 python3 -m transfer_lab.bench --ks 0,5 --out "$OUT/bench-eager.json" "${BENCH[@]}" trainer.enable_progress_bar=false \
  2> "$OUT/bench-eager.log" | tee "$OUT/bench-eager.txt"
echo "== benchmark, eager, progress bar off, 8 loader threads (does more input help?)"
timeout 60 python3 -m transfer_lab.bench --ks 5 --out "$OUT/bench-eager-t8.json" "${BENCH[@]}" trainer.enable_progress_bar=false data.loader_threads=8 \
  2> "$OUT/bench-eager-t8.log" | tee "$OUT/bench-eager-t8.txt"
echo "eager benches: $((SECONDS - start)) s"
echo "== benchmark, torch.compile, progress bar off"
timeout 200 python3 -m transfer_lab.bench --ks 0,5 --out "$OUT/bench-compile.json" "${BENCH[@]}" trainer.enable_progress_bar=false model.compile=true \
  2> "$OUT/bench-compile.log" | tee "$OUT/bench-compile.txt"
echo "total: $((SECONDS - start)) s" | tee -a "$OUT/device.txt"
rm -rf "$WORK"
