#!/usr/bin/env bash
# The one prepared script for a session that is lent a GPU (docs/performance.md, "The next GPU session"). Two
# device calls back to back (the machine stays warm ~30 s between them), because the real CIFAR-10 (~100 MB as
# lossless WebP, bench/pack_cifar.py) does not fit one 64 MiB transfer beside the repository:
#   bench/gpu.sh stage1   GPU facts, the CUDA tests, bench/gpu_bench.py (Fig-1 net alone, AlexNet, the packed
#                         sweep MPS / time-sliced / one process, the LRN layer) → $OUT/gpu_bench.md + .json;
#                         parks hydra & co (.devsite.tgz) and CIFAR-10 part A on the machine's disk
#   bench/gpu.sh stage2   part B, the full CIFAR-10 assembled, bench/gpu_study.py (the Figure-1 study grid through
#                         the packed path) → $OUT/<date>-gpu-h200.md (all four goals side by side) + .json, runs.tgz
# Add --cpu to either to run a tiny version on a machine without a GPU (tests/test_bench.py does, both stages).
# Prepare here first (no device time): bench/gpu_prepare.sh (.devsite.tgz, .devdata/{A,B}, the size check).
set -uo pipefail
STAGE=${1:?stage1 or stage2}
CPU=${2:-}
OUT=${OUT:-/tmp/ablate_gpu_out}
PARK=${ABLATE_PARK:-/root/ablate_parked}  # survives between the two calls while the machine stays warm
DEVDATA=${ABLATE_DEVDATA:-.devdata}
mkdir -p "$OUT" "$PARK"
export PYTHONPATH="$PARK/devsite:$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 WANDB_MODE=disabled
export XDG_CACHE_HOME="$PARK/cache" HYDRA_FULL_ERROR=1
PY=${PYTHON:-python3}
log() { echo "[gpu.sh $(date -u +%H:%M:%S)] $*"; }

if [ -n "$CPU" ]; then
  FLAG=--cpu; BENCH_DEADLINE=600; GRID_DEADLINE=300; GRID_JOBS=2
else
  # Device time is 15 minutes in all; planned: ~1.5 start-up, stage 1 ~6, stage 2 ~6.5 (docs/performance.md).
  FLAG=; BENCH_DEADLINE=${BENCH_DEADLINE:-300}; GRID_DEADLINE=${GRID_DEADLINE:-330}; GRID_JOBS=${GRID_JOBS:-21}
fi

stage1() {
  { nvidia-smi --query-gpu=name,memory.total,driver_version,compute_mode --format=csv || true
    echo "MPS control: $(command -v nvidia-cuda-mps-control || echo 'not on PATH')"
    $PY -c "import sys, torch; print(sys.version.split()[0], torch.__version__, torch.cuda.is_available())"
    $PY -c "import triton; print('triton', triton.__version__)" || true; } 2>&1 | tee "$OUT/machine.txt"
  if [ -f .devsite.tgz ]; then tar xzf .devsite.tgz -C "$PARK" && log "parked .devsite"; fi
  if [ -d "$DEVDATA/A" ]; then cp -r "$DEVDATA/A" "$PARK/" && log "parked part A: $(du -sh "$PARK/A" | cut -f1)"
  else log "no $DEVDATA/A to park: stage 2 will have no CIFAR-10"; fi
  log "CUDA tests (replay = eager bit for bit, fused LRN against float64, augmentation and models on the GPU)"
  timeout 240 $PY -m pytest -q -p no:cacheprovider tests/test_graphs.py tests/test_lrn_fused.py \
    tests/test_data_augment.py tests/test_models.py -k "cuda or gpu" 2>&1 | tail -15 | tee "$OUT/cuda_tests.txt"
  log "benchmarks, deadline ${BENCH_DEADLINE}s"
  timeout $((BENCH_DEADLINE + 90)) $PY bench/gpu_bench.py $FLAG --deadline-s "$BENCH_DEADLINE" \
    --out "$OUT/gpu_bench.md" 2>&1 | grep -v "^\[ablate\]" | tail -60
  cp "$OUT/gpu_bench.json" "$PARK/" 2>/dev/null
  log "stage1 done"
}

stage2() {
  [ -d "$DEVDATA/B" ] && cp -r "$DEVDATA/B" "$PARK/"
  [ -d "$PARK/A" ] || { log "part A is not parked here (the machine was given back between calls)"; exit 3; }
  [ -d "$PARK/B" ] || { log "no part B: carry $DEVDATA/B"; exit 3; }
  $PY bench/pack_cifar.py unpack "$PARK/cifar" "$PARK/A" "$PARK/B" || exit 1
  $PY -c "from ablate.config import DataConfig; from ablate.data import DATASETS; \
          print(DATASETS.build('cifar10', DataConfig(name='cifar10', root='$PARK/cifar')).train_x.shape)" || exit 1
  log "Figure-1 study grid, $GRID_JOBS jobs at a time, deadline ${GRID_DEADLINE}s"
  $PY bench/gpu_study.py $FLAG --root "$PARK/cifar" --runs "$PARK/runs/fig1_study_gpu" \
    --bench-json "$PARK/gpu_bench.json" --jobs-per-gpu "$GRID_JOBS" --deadline-s "$GRID_DEADLINE" \
    --out "$OUT/$(date -u +%F)-gpu-h200.md" | tail -40
  tail -c 20000 "$PARK/runs/fig1_study_gpu.log" > "$OUT/fig1_study_gpu.log" 2>/dev/null
  tar czf "$OUT/runs.tgz" -C "$PARK/runs" --exclude=checkpoints --exclude=.submitit . \
    && log "runs.tgz: $(du -sh "$OUT/runs.tgz" | cut -f1)"
}

"$STAGE"
