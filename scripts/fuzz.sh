#!/usr/bin/env bash
# Long fuzzing run: each target of hangar_fuzz for SECONDS, with a fresh seed, continuing past
# a crash or a hang so every target reports. Usage: fuzz.sh HANGAR_FUZZ [SECONDS] [OUT_DIR]
set -uo pipefail
bin=${1:?usage: fuzz.sh HANGAR_FUZZ [SECONDS] [OUT_DIR]}
seconds=${2:-300}
out=${3:-fuzz-findings}
shared="$(cd "$(dirname "$0")/.." && pwd)/../shared"
seed=${FUZZ_SEED:-$(date +%s)}
mkdir -p "$out"
echo "fuzzing each target for ${seconds}s, seed $seed, findings in $out"
status=0
for target in gguf tokenizer template request http; do
  "$bin" --shared "$shared" --target "$target" --seconds "$seconds" --seed "$seed" --out "$out"
  rc=$?
  case $rc in
    0) ;;
    1) echo "fuzz $target: invariant findings (see above)"; status=1 ;;
    3) echo "fuzz $target: a HANG (input saved in $out)"; status=1 ;;
    *) echo "fuzz $target: a CRASH, exit $rc (input saved in $out)"; status=1 ;;
  esac
done
exit $status
