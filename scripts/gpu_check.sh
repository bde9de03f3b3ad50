#!/usr/bin/env bash
# GPU check (issues 4 and 10), on a CUDA machine without network, in under 6 minutes by design: every
# step runs under a timeout cut to what is left of a 350 s budget, and is skipped (saying so) when < 20 s are left.
#   1. the benchmark (python -m transfer_lab.bench) at the default settings (bf16, channels-last, fused
#      SGD, compile on: recipe=paper is 450k steps), k = 0 and 5: CaffeNet, 227 px crops of a 256 px
#      cache, batch 256, 200 timed steps across epoch boundaries; columns model-only / plain loop / input-only /
#      full path img/s, ratio, /plain, host ms/step, device ms/step, GFLOP/img, MFU
#   2. the GPU-only tests (pytest -m gpu): bf16 + channels-last, torch.compile, frozen layers, the
#      pinned-buffer loader, the CLI, LRN / loss under autocast, the issue's bf16 base run staying finite
#   3. the benchmark with each option tried, at k = 5: eager (model.compile=false), SGD not fused,
#      compile mode reduce-overhead
#   4. 8 input-only loaders at once from one page cache (8 jobs of an 8-GPU host): aggregate img/s
# Figures and logs go to $OUT (default ./gpu_check_out): <step>.txt (its console output), <step>.log (its
# stderr), bench-<name>.json, device.txt, summary.txt. It ends with one line per step (passed / failed /
# skipped for time) and exits 1 when any step failed: its exit status says whether the GPU check passed.
#
# Needs torch, torchvision, pytorch-lightning, torchmetrics (on the machine) and, as wheels in .whl/
# if missing there: hydra-core, hydra-joblib-launcher, joblib, omegaconf, antlr4-python3-runtime==4.9.3, pytest,
# iniconfig, pluggy, pygments
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
  LINKED_CONF=1
fi
WORK=""
trap 'rm -rf "$WORK"; [ -z "${LINKED_CONF:-}" ] || rm -f "$REPO/transfer_lab/conf"' EXIT

missing=$(python3 - <<'PY'
import importlib
names = ["torch", "torchvision", "pytorch_lightning", "torchmetrics", "hydra", "omegaconf", "antlr4", "joblib",
         "hydra_plugins.hydra_joblib_launcher", "yaml", "pytest", "filelock", "tqdm", "PIL", "numpy"]
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
# seconds: every step's timeout is cut to what is left of it, and a step with < 20 s left is skipped
BUDGET=${GPU_CHECK_BUDGET:-350}
left() { echo $(( BUDGET - (SECONDS - start) )); }
SUMMARY=()  # one line per step: "<name>: passed | failed (why) | skipped for time"
FAILED=0
# step NAME LIMIT COMMAND...: COMMAND under a timeout of at most LIMIT s (cut to what is left of the budget);
# its stdout on the console and in $OUT/NAME.txt, its stderr in $OUT/NAME.log; its exit status to the summary
# (PIPESTATUS: the command's, not tee's).
step() {
  local name=$1 limit=$2 rc; shift 2
  (( $(left) < limit )) && limit=$(left)
  if (( limit < 20 )); then
    echo "== $name: skipped for time (the ${BUDGET} s budget is spent)"
    SUMMARY+=("$name: skipped for time"); return
  fi
  echo "== $name"
  timeout "$limit" "$@" 2> "$OUT/$name.log" | tee "$OUT/$name.txt"
  rc=${PIPESTATUS[0]}
  if (( rc == 0 )); then
    SUMMARY+=("$name: passed ($((SECONDS - start)) s)")
  else
    FAILED=1
    if (( rc == 124 )); then SUMMARY+=("$name: failed (timed out after $limit s; see $OUT/$name.log)")
    else SUMMARY+=("$name: failed (exit $rc; see $OUT/$name.log)"); fi
    tail -5 "$OUT/$name.log"
  fi
}
# 20k training images: half B holds ~39 batches of 256, so 200 timed steps cross ~5 epoch
# boundaries (an epoch of an ImageNet half is ~2500 batches: real runs cross far fewer).
WORK=$(mktemp -d)
step tree 60 python3 -m transfer_lab.synthetic_imagenet "$WORK/tree" \
  --classes 10 --per-class 2000 --val-per-class 10 --size 64
step cache 90 python3 -m transfer_lab.prepare --no-progress data=imagenet "data.root=$WORK/tree" "paths.root=$WORK/out"

BENCH=(--warmup 5 --steps 200 data=imagenet "data.root=$WORK/tree" "paths.root=$WORK/out")
bench() {  # bench NAME TIMEOUT ARGS...: one benchmark step, one round of each measurement (the check has 6 minutes)
  local name=$1 limit=$2; shift 2
  step "bench-$name" "$limit" python3 -m transfer_lab.bench --rounds 1 --out "$OUT/bench-$name.json" "${BENCH[@]}" "$@"
}
bench study 150 --study --steps 50 +exp=grid  # issue 24: Figure 2's device-hours at recipe=paper, each job kind timed
# The defaults: what `python -m transfer_lab +exp=... data=imagenet` runs with (progress bar every 10 steps).
bench default 150 --ks 0,5

# pytest's report goes to stdout: gpu_tests.txt holds all of it.
step gpu_tests 180 python3 -m pytest -q -m gpu -p no:cacheprovider tests

# The options tried, at k = 5 (the defaults' figures above are the reference).
bench eager 45 --ks 5 model.compile=false
bench sgd-not-fused 45 --ks 5 model.compile=false +recipe.optimizer.fused=false
bench reduce-overhead 100 --ks 5 model.compile_mode=reduce-overhead

# 8 input-only loaders at once from one page cache (8 jobs of an 8-GPU host): aggregate img/s.
step loaders 40 python3 -m transfer_lab.bench --loader-jobs 8 --steps 200 "${BENCH[@]:4}"

echo "total: $((SECONDS - start)) s" | tee -a "$OUT/device.txt"
printf '%s\n' "${SUMMARY[@]}" | tee "$OUT/summary.txt"
if (( FAILED )); then echo "gpu_check: FAILED (a step failed; see above)"; exit 1; fi
echo "gpu_check: every step that ran passed"
