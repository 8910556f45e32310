#!/usr/bin/env bash
# `make bench-swap`: hangar serve with more models than its budget holds, under a seeded trace
# (Zipf popularity, bursts per model): TTFT p50/p95, loads, evictions, hit rate and requests
# served for each swap window and eviction policy. Prints the markdown table of docs/PERFORMANCE.md.
#   scripts/bench-swap.sh [path/to/hangar]     REQUESTS=120 SEED=1 WINDOWS=0,500ms to change
# Uses three of ../shared/models, then (where present) the bench models of
# ../shared/bench/make_bench_models.sh in ~/.cache/hangar-bench.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
hangar=${1:-$here/build/hangar}
shared=$here/../shared/models
dir=${HANGAR_BENCH_DIR:-$HOME/.cache/hangar-bench}
args=(--requests "${REQUESTS:-120}" --seed "${SEED:-1}" --windows "${WINDOWS:-0,500ms}"
      --policies "${POLICIES:-lru,lfu,fifo,cost}" --threads "${THREADS:-2}")

echo "## shared test models (3, budget for 2)"
"$hangar" bench-swap "${args[@]}" \
  --models "$shared/qwen2-d256-q4_k_m.gguf,$shared/llama-spm-d256-q4_0.gguf,$shared/llama-spm-d256-q4_k_m.gguf"
bench=()
for m in llama-1b-q4_k_m qwen2-0.5b-q4_k_m llama-1b-q8_0; do [ -f "$dir/$m.gguf" ] && bench+=("$dir/$m.gguf"); done
if [ ${#bench[@]} -ge 2 ]; then
  echo
  echo "## bench models (${#bench[@]}, budget for $(( ${#bench[@]} - 1 )))"
  "$hangar" bench-swap "${args[@]}" --hold $(( ${#bench[@]} - 1 )) --ctx 2048 \
    --models "$(IFS=,; echo "${bench[*]}")"
else
  echo
  echo "(no bench models in $dir: ../shared/bench/make_bench_models.sh writes them)"
fi
