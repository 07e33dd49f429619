#!/usr/bin/env bash
# The one prepared script for a session that is lent a GPU (see DEVELOPERS.md), in two stages because the real
# CIFAR-10 (~100 MB as lossless WebP, bench/pack_cifar.py) is larger than one transfer to that machine:
#   bench/gpu.sh stage1   GPU facts, the CUDA-only tests, a bf16 smoke run, bench/gpu_bench.py, bench/lrn.py,
#                         and part A of the data (train classes 0-3 + test) parked on the machine's disk
#   bench/gpu.sh stage2   part B (train classes 4-9), the full CIFAR-10 assembled, then the reproduction sweeps
#                         (Figure 1 and the CIFAR-10 LRN claim, paper protocol and a modern init) until a deadline;
#                         the run folders (no checkpoints) come back as runs.tgz
# Add --cpu to either to run a tiny version on a machine without a GPU (how it is tested here).
# Needs: .devsite/ (pure-Python hydra, omegaconf, antlr4, hydra_plugins, submitit copied from a venv) and
# .devdata/{A,B} (bench/pack_cifar.py pack ... --part A|B), both carried to the device.
set -uo pipefail
STAGE=${1:?stage1 or stage2}
CPU=${2:-}
OUT=${OUT:-/tmp/ablate_gpu_out}
PARK=${ABLATE_PARK:-/root/ablate_parked}  # survives between two calls while the machine stays warm
mkdir -p "$OUT" "$PARK"
export PYTHONPATH="$PWD/.devsite:$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 WANDB_MODE=disabled
export XDG_CACHE_HOME="$PARK/cache"
PY=${PYTHON:-python3}
log() { echo "[gpu.sh $(date -u +%H:%M:%S)] $*"; }

if [ -n "$CPU" ]; then
  DEVICE=cpu; BENCH_FLAG=--cpu; DEADLINE=${DEADLINE:-60}; JOBS=2
  FIG1=(data.subset=2000 data.test_subset=500 trainer.epochs=2 optim.lr=0.01 seed=0)
  LRN=(data.subset=1000 data.test_subset=200 data.val_size=200 trainer.epochs=1 seed=0 model.local=false)
else
  DEVICE=cuda; BENCH_FLAG=; DEADLINE=${DEADLINE:-380}; JOBS=4
  FIG1=(optim.lr=0.01,0.02,0.04)
  LRN=(trainer.epochs=30)
fi

stage1() {
  { nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true
    $PY -c "import sys, torch; print(sys.version.split()[0], torch.__version__, torch.cuda.is_available())"; } \
    2>&1 | tee "$OUT/machine.txt"
  cp -r .devdata/A "$PARK/" && log "parked part A: $(du -sh "$PARK/A" | cut -f1)"
  log "CUDA-only tests"
  $PY -m pytest -q -p no:cacheprovider tests/test_data_augment.py tests/test_models.py -k "cuda or gpu" 2>&1 \
    | tail -5 | tee "$OUT/cuda_tests.txt"
  log "bf16 + channels_last smoke run"
  $PY -m ablate data=synthetic data.subset=4000 trainer.epochs=2 trainer.device=$DEVICE \
    trainer.precision=bf16 trainer.channels_last=true hydra.run.dir="$PARK/smoke" 2>&1 | tail -3 | tee "$OUT/smoke.txt"
  log "benchmarks"
  timeout 150 $PY bench/gpu_bench.py $BENCH_FLAG --deadline-s 120 --out "$OUT/gpu_bench.md" 2>&1 | tail -40
  log "LRN: ablate's TowerLRN vs torch's LocalResponseNorm (bf16)"
  timeout 60 $PY bench/lrn.py --device $DEVICE ${CPU:+--quick} --out "$OUT/lrn_bench.md" 2>&1 | tail -8
  log "stage1 done"
}

sweep() {  # name, extra overrides...: one multirun with parallel jobs on the one device
  local name=$1; shift
  $PY -m ablate -m "$@" data.root="$PARK/cifar" hydra/launcher=ablate_joblib trainer.jobs_per_gpu=$JOBS \
    trainer.threads=1 trainer.device=$DEVICE trainer.progress=line > "$OUT/$name.log" 2>&1
  log "$name finished with status $?"
}

stage2() {
  cp -r .devdata/B "$PARK/" || exit 1
  [ -d "$PARK/A" ] || { log "part A is not parked here (the machine was given back between calls)"; exit 3; }
  $PY bench/pack_cifar.py unpack "$PARK/cifar" "$PARK/A" "$PARK/B" || exit 1
  $PY -c "from ablate.config import DataConfig; from ablate.data import DATASETS; \
          print(DATASETS.build('cifar10', DataConfig(name='cifar10', root='$PARK/cifar')).train_x.shape)" || exit 1
  log "reproduction sweeps, deadline ${DEADLINE}s"
  local start=$SECONDS pids=()
  sweep fig1_paper +sweeps=fig1_relu_vs_tanh "${FIG1[@]}" & pids+=($!)
  sweep fig1_kaiming +sweeps=fig1_relu_vs_tanh "${FIG1[@]}" model.init=kaiming name=fig1_relu_vs_tanh_kaiming &
  pids+=($!)
  sweep lrn_paper +sweeps=lrn_cifar "${LRN[@]}" & pids+=($!)
  sweep lrn_kaiming +sweeps=lrn_cifar "${LRN[@]}" model.init=kaiming name=lrn_cifar_kaiming & pids+=($!)
  ( sleep "$DEADLINE"; log "deadline: SIGTERM to every run (each checkpoints and is marked preempted)"
    # workers first, so each reaches its next step boundary (and checkpoints) before its parent goes away
    pkill -TERM -f loky; sleep 30; pkill -TERM -f "m ablate" ) &
  local watcher=$!
  wait "${pids[@]}"
  kill "$watcher" 2>/dev/null
  log "sweeps took $((SECONDS - start))s"
  tar czf "$OUT/runs.tgz" --exclude=checkpoints --exclude=.submitit runs/ && log "runs.tgz: $(du -sh "$OUT/runs.tgz" | cut -f1)"
}

"$STAGE"
