#!/usr/bin/env bash
# Here, before a GPU session's two device calls (costs no device time): what bench/gpu.sh needs carried.
#   .devsite.tgz      hydra, omegaconf, antlr4, the hydra launcher plugins and submitit, copied from this venv:
#                     pure Python, absent from the device's image (its python3 has torch, triton, joblib, yaml)
#   .devdata/A, B     the real CIFAR-10 as lossless WebP mosaics in two parts (bench/pack_cifar.py, ~1 min each)
# Both are git-ignored. Then it checks what each call carries against the device's 64 MiB transfer limit.
#   bench/gpu_prepare.sh [CIFAR10_IMAGEFOLDER]      (default ../shared/data/cifar10)
set -euo pipefail
SRC=${1:-../shared/data/cifar10}
PY=${PYTHON:-python3}
LIMIT=$((64 * 1024 * 1024))

site=$($PY -c "import hydra, os; print(os.path.dirname(os.path.dirname(hydra.__file__)))")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/devsite"
for pkg in hydra omegaconf antlr4 hydra_plugins submitit; do cp -r "$site/$pkg" "$tmp/devsite/"; done
find "$tmp/devsite" -name __pycache__ -prune -exec rm -rf {} +
tar czf .devsite.tgz -C "$tmp" devsite
# Packed once per source (packing takes minutes); packed from another source (a test's miniature), packed again.
source=$(cd "$SRC" && pwd)
if [ "$(cat .devdata/source 2>/dev/null)" != "$source" ]; then rm -rf .devdata; fi
for part in A B; do
  [ -d ".devdata/$part" ] || nice $PY bench/pack_cifar.py pack "$SRC" ".devdata/$part" --part "$part"
done
echo "$source" > .devdata/source

# What travels: tracked and untracked-not-ignored files, plus what `carry` names.
tree=$( { git ls-files -z; git ls-files -z --others --exclude-standard; } | xargs -0 stat -c %s 2>/dev/null \
        | awk '{s += $1} END {print s + 0}')
bytes() { du -sb "$@" | awk '{s += $1} END {print s}'; }
ok=0
for call in "stage1 .devsite.tgz .devdata/A" "stage2 .devdata/B"; do
  set -- $call
  name=$1; shift
  total=$((tree + $(bytes "$@")))
  verdict=fits; [ "$total" -le "$LIMIT" ] || { verdict="TOO BIG"; ok=1; }
  awk -v n="$name" -v t="$tree" -v c="$*" -v s="$total" -v v="$verdict" \
    'BEGIN {printf "%s: repository %.1f MiB + %s = %.1f MiB of 64: %s\n", n, t / 1048576, c, s / 1048576, v}'
done
exit $ok
