#!/usr/bin/env bash
# `make bench`: hangar beside native llama.cpp on the bench models, same machine, same threads.
# Prints a markdown table (the one in docs/PERFORMANCE.md) with both figures and their ratio.
#   scripts/bench.sh [path/to/hangar]      THREADS=2 REPS=3 MODELS="llama-1b-q4_k_m ..." to change
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
hangar=${1:-$here/build/hangar}
shared=$here/../shared/bench
threads=${THREADS:-2}
reps=${REPS:-3}
models=${MODELS:-"llama-1b-q4_k_m llama-1b-q8_0 qwen2-0.5b-q4_k_m"}
dir=${HANGAR_BENCH_DIR:-$HOME/.cache/hangar-bench}

echo "reference llama.cpp (builds once, ~15 min on 2 cores) ..." >&2
bin=$("$shared/build_llamacpp.sh" | tail -1)
[ -f "$dir/llama-1b-q4_k_m.gguf" ] || "$shared/make_bench_models.sh" "$dir" >&2

json_field() { python3 -c "import json,sys; d=json.loads(sys.stdin.read()); print(d$1)"; }
ratio() { python3 -c "print('%.2f' % ($1 / $2))"; }

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; threads: $threads"
echo
echo "| model | test | hangar t/s | llama.cpp t/s | ratio |"
echo "|---|---|---:|---:|---:|"
for m in $models; do
  f=$dir/$m.gguf
  # Alternate the two so that drift in the machine's speed hits both alike.
  ll=$("$bin/llama-bench" -m "$f" -t "$threads" -p 512 -n 128 -r "$reps" -o json 2>/dev/null)
  hg=$("$hangar" bench -m "$f" --threads "$threads" -p 512 -n 128 -r "$reps" --json)
  ll_pp=$(echo "$ll" | json_field "[0]['avg_ts']")
  ll_tg=$(echo "$ll" | json_field "[1]['avg_ts']")
  hg_pp=$(echo "$hg" | json_field "['pp_tps']")
  hg_tg=$(echo "$hg" | json_field "['tg_tps']")
  bw=$(echo "$hg" | json_field "['tg_bandwidth_percent']")
  printf "| %s | pp512 | %.1f | %.1f | %s |\n" "$m" "$hg_pp" "$ll_pp" "$(ratio "$hg_pp" "$ll_pp")"
  printf "| %s | tg128 | %.1f (%.0f%% of bandwidth) | %.1f | %s |\n" "$m" "$hg_tg" "$bw" "$ll_tg" "$(ratio "$hg_tg" "$ll_tg")"
done
m=${BATCH_MODEL:-llama-1b-q4_k_m}
f=$dir/$m.gguf
lb=$("$bin/llama-batched-bench" -m "$f" -t "$threads" -c 4096 -b 2048 -ub 512 -npp 128 -ntg 64 -npl 8 \
      --output-format jsonl 2>/dev/null | grep '^{' | tail -1)
hb=$("$hangar" bench -m "$f" --threads "$threads" -p 0 -n 0 --batch 8 --batch-prompt 128 --batch-gen 64 -r 1 --json)
lb_tg=$(echo "$lb" | json_field "['speed_tg']")
hb_tg=$(echo "$hb" | json_field "['batch_tg_tps']")
printf "| %s | 8 x (pp128 + tg64), aggregate decode | %.1f | %.1f | %s |\n" "$m" "$hb_tg" "$lb_tg" "$(ratio "$hb_tg" "$lb_tg")"
