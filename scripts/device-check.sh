#!/usr/bin/env bash
# On the GPU machine (the `device` tool), from a copy of the repository prepared with
# ../shared/device/prepare.sh --bench (its .device/ folder beside this tree): builds with CUDA,
# runs the GPU kernel tests, the golden agreement on CUDA, the engine and manager tier tests,
# `hangar bench --device cuda` (pp512, tg128, batched 1/8/32/64, a reload from host memory) on
# the llama-1b bench models, decode without CUDA graphs, and the GPU switch: two models under a
# GPU budget that holds one, alternating requests (time to first token of a model promoted back
# from host memory). Sized for one call of about 8 minutes on the H200 (16 cores):
#
#   device run, carry [".device"], timeout 560:
#     bash scripts/device-check.sh [build] [kernels] [golden] [engine] [bench] [switch]  (default: all)
#
# Every step runs even when an earlier one failed; each step's output goes to $OUT/log.txt
# (OUT defaults to ./device-out) and one line per step to $OUT/summary.txt, printed last.
set -u -o pipefail
OUT=${OUT:-$PWD/device-out}
mkdir -p "$OUT"
LOG=$OUT/log.txt
SUM=$OUT/summary.txt
steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(build kernels golden engine bench switch)
want() { local s; for s in "${steps[@]}"; do [ "$s" = "$1" ] && return 0; done; return 1; }
run() {  # run NAME TIMEOUT_S CMD...: logs the output, records rc and seconds
  local name=$1 limit=$2; shift 2
  local t0=$SECONDS
  echo "===== $name: $*" >> "$LOG"
  timeout "$limit" "$@" >> "$LOG" 2>&1
  local rc=$?
  echo "$name rc=$rc $((SECONDS - t0))s" | tee -a "$SUM" >> "$LOG"
  return $rc
}

# Outside the carried tree, so that a later call on the same (warm) machine finds them: the
# build, the unpacked packages, and the shared reference files of every call so far (../shared
# points there; a call may carry only the models it adds).
B=${BUILD:-/tmp/build-device}
D=/tmp/deps
mkdir -p $D /tmp/shared
if ls .device/debs/*.deb > /dev/null 2>&1; then for f in .device/debs/*.deb; do dpkg -x "$f" $D; done; fi
[ -d .device/shared ] && cp -r .device/shared/. /tmp/shared/
[ -e ../shared ] || ln -s /tmp/shared ../shared
export LD_LIBRARY_PATH=$D/usr/lib/x86_64-linux-gnu
nvidia-smi --query-gpu=name,memory.total,memory.used,clocks.sm,clocks.mem,driver_version --format=csv >> "$SUM" 2>&1

if want build; then
  export PKG_CONFIG_SYSROOT_DIR=$D PKG_CONFIG_PATH=$D/usr/lib/x86_64-linux-gnu/pkgconfig:$D/usr/share/pkgconfig
  run configure 120 cmake -S . -B $B -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH=$D/usr \
    -DOPENSSL_ROOT_DIR=$D/usr -DHANGAR_CUDA=ON
  run build 300 cmake --build $B -j"$(nproc)" --target hangar kernels_cuda_test golden_agreement_test engine_test \
    engine_loader_test kernels_test
fi

if want kernels; then
  run kernels_cuda_test 120 $B/src/kernels/kernels_cuda_test
  grep -E '^\[  (FAILED|PASSED) ' "$LOG" | tail -n 20 >> "$SUM"
  run layout_test 60 $B/src/kernels/kernels_test --gtest_filter='*CudaLayout*'
fi
if want golden; then
  # The models this and earlier calls carried (the others fail to load: not a GPU result).
  filter=""
  for m in /tmp/shared/models/*.gguf; do
    n=$(basename "$m" .gguf | tr -c 'a-zA-Z0-9\n' '_'); filter="$filter:*cuda_$n"
  done
  run golden_cuda 200 $B/tests/golden_agreement_test --gtest_filter="${filter#:}"
  grep '\[agreement\]' "$LOG" | sort -u >> "$SUM"
fi
if want engine; then
  # The engine on CUDA (offload/reload keep the logits, CPU/GPU agreement, the scheduler's
  # tests on the GPU, its offload between requests) and the manager's tier on the real device
  # (EngineModel demote/promote through the scheduler; the cache's own tier tests use a fake
  # device and run everywhere).
  run engine_cuda 150 $B/src/engine/engine_test --gtest_filter='*cuda*:*Cuda*'
  grep -E '^\[  (FAILED|PASSED) ' "$LOG" | tail -n 12 >> "$SUM"
  run engine_loader_cuda 120 $B/src/manager/engine_loader_test --gtest_filter='*Cuda*:*Device*:*Gpu*'
  grep -E '^\[  (FAILED|PASSED) ' "$LOG" | tail -n 12 >> "$SUM"
fi

M=/tmp/hangar-bench
if want bench || want switch; then
  if [ -f .device/bench_model.sh ]; then
    sed -i "s#./build-device/hangar#$B/hangar#" .device/bench_model.sh
    run bench_model 150 bash .device/bench_model.sh
  fi
fi
if want bench; then
  for m in llama-1b-q4_k_m llama-1b-f16; do
    [ -f $M/$m.gguf ] || { echo "bench_$m: no $M/$m.gguf (prepare.sh --bench)" >> "$SUM"; continue; }
    run "bench_$m" 150 $B/hangar bench -m $M/$m.gguf --device cuda -p 512 -n 128 -r 3 --batch 1,8,32,64 --switch 5
    grep -E "^(pp|tg|batched|model|switch)" "$LOG" | tail -n 9 | sed "s/^/$m: /" >> "$SUM"
  done
  # What the CUDA graphs save in single-stream decode.
  [ -f $M/llama-1b-q4_k_m.gguf ] && HANGAR_CUDA_GRAPHS=0 run bench_nographs 60 \
    $B/hangar bench -m $M/llama-1b-q4_k_m.gguf --device cuda -p 0 -n 128 -r 3 &&
    grep -E "^tg" "$LOG" | tail -n 1 | sed "s/^/no graphs: /" >> "$SUM"
fi

# The GPU switch: both bench models in one server whose GPU budget (3 GiB) holds either one
# (Q4_K_M ~0.9 GB, F16 ~2.6 GB on the GPU at ctx 2048 x 1) but not both, so that every request
# for the other model demotes one to host memory and promotes the other back. Time to first
# token per request (curl, streamed, one token); the first two include loads from disk.
switch_ttft() {
  local port=18431 dir=/tmp/switch-models i m t
  mkdir -p $dir && ln -sf $M/llama-1b-q4_k_m.gguf $M/llama-1b-f16.gguf $dir/
  $B/hangar serve --models-dir $dir --state-dir /tmp/switch-state --port $port --device cuda \
    --gpu-memory-budget 3Gi --ctx 2048 --parallel 1 > $OUT/switch-serve.log 2>&1 &
  local pid=$!
  for i in $(seq 100); do curl -sf localhost:$port/v1/models > /dev/null && break; sleep 0.2; done
  for i in $(seq 12); do
    m=$([ $((i % 2)) = 1 ] && echo llama-1b-q4_k_m || echo llama-1b-f16)
    t=$(curl -s -o /dev/null -w '%{time_starttransfer}' localhost:$port/v1/completions \
      -H 'Content-Type: application/json' \
      -d "{\"model\": \"$m\", \"prompt\": \"Hello, my name is\", \"max_tokens\": 1, \"stream\": true}")
    echo "request $i $m ttft_s=$t"
  done
  curl -s localhost:$port/metrics | grep -iE "promot|demot|tier" | head -n 20
  kill $pid; wait $pid
  grep -iE "promoted|demoted" $OUT/switch-serve.log | tail -n 6
}
if want switch; then
  if [ ! -f $M/llama-1b-q4_k_m.gguf ] || [ ! -f $M/llama-1b-f16.gguf ]; then
    echo "switch: the bench models are missing (prepare.sh --bench)" >> "$SUM"
  elif ! $B/hangar serve --help | grep -q -- --gpu-memory-budget; then
    echo "switch: this hangar has no --gpu-memory-budget yet" >> "$SUM"
  else
    export -f switch_ttft; export B M OUT   # `timeout` runs programs, not functions
    run switch 90 bash -c switch_ttft
    grep -E "^request|promoted" "$LOG" | tail -n 14 | sed "s/^/switch: /" >> "$SUM"
  fi
fi
echo "----- summary"
cat "$SUM"
