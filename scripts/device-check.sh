#!/usr/bin/env bash
# On the GPU machine (the `device` tool), from a copy of the repository prepared with
# ../shared/device/prepare.sh [--bench] (its .device/ folder beside this tree): builds with CUDA,
# runs the GPU tests, the golden agreement on CUDA and `hangar bench --device cuda`.
#
#   bash scripts/device-check.sh [build] [kernels] [golden] [engine] [bench]  (default: all)
#
# Every step runs even when an earlier one failed; each step's output goes to $OUT/log.txt
# (OUT defaults to ./device-out) and one line per step to $OUT/summary.txt, printed last.
set -u -o pipefail
OUT=${OUT:-$PWD/device-out}
mkdir -p "$OUT"
LOG=$OUT/log.txt
SUM=$OUT/summary.txt
steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(build kernels golden engine bench)
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
  run build 400 cmake --build $B -j"$(nproc)" --target hangar kernels_cuda_test golden_agreement_test engine_test \
    manager_test kernels_test
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
  run golden_cuda 300 $B/tests/golden_agreement_test --gtest_filter="${filter#:}"
  grep '\[agreement\]' "$LOG" | sort -u >> "$SUM"
fi
if want engine; then
  run engine_cuda 300 $B/src/engine/engine_test --gtest_filter='*cuda*:*Cuda*'
  grep -E '^\[  (FAILED|PASSED) ' "$LOG" | tail -n 12 >> "$SUM"
  run manager_tiers 120 $B/src/manager/manager_test --gtest_filter='*Tier*:*Gpu*'
fi

M=/tmp/hangar-bench
if want bench; then
  if [ -f .device/bench_model.sh ]; then
    sed -i "s#./build-device/hangar#$B/hangar#" .device/bench_model.sh
    run bench_model 240 bash .device/bench_model.sh
  fi
fi
if want bench; then
  for m in llama-1b-q4_k_m llama-1b-f16; do
    [ -f $M/$m.gguf ] || continue
    run "bench_$m" 300 $B/hangar bench -m $M/$m.gguf --device cuda -p 512 -n 128 -r 3 --batch 1,8,32,64 --switch 5
    grep -E "^(pp|tg|batched|model|switch)" "$LOG" | tail -n 8 | sed "s/^/$m: /" >> "$SUM"
  done
  # What the CUDA graphs save in single-stream decode.
  [ -f $M/llama-1b-q4_k_m.gguf ] && HANGAR_CUDA_GRAPHS=0 run bench_nographs 120 \
    $B/hangar bench -m $M/llama-1b-q4_k_m.gguf --device cuda -p 0 -n 128 -r 3 &&
    grep -E "^tg" "$LOG" | tail -n 1 | sed "s/^/no graphs: /" >> "$SUM"
fi
echo "----- summary"
cat "$SUM"
