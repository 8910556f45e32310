#!/usr/bin/env bash
# Fails when a src/ folder includes a header of a layer it may not use (docs/ARCHITECTURE.md).
set -euo pipefail
cd "$(dirname "$0")/../src"
declare -A allowed=(
  [base]="base"
  [gguf]="base gguf"
  [kernels]="base kernels"
  [tokenizer]="base gguf tokenizer"
  [chat]="base chat"
  [sampling]="base sampling"
  [grammar]="base gguf tokenizer grammar"
  [quant]="base gguf kernels quant"
  [model]="base gguf kernels model"
  [engine]="base gguf kernels model tokenizer sampling grammar engine"
  [manager]="base gguf kernels model tokenizer sampling grammar engine manager"
  [api]="base gguf kernels model tokenizer sampling grammar engine manager chat api"
  [cli]="base gguf kernels quant model tokenizer sampling grammar engine manager chat api cli"
)
status=0
for layer in "${!allowed[@]}"; do
  [ -d "$layer" ] || continue
  while IFS= read -r line; do
    file=${line%%:*}
    inc=$(sed -E 's/.*#include "([a-z_]+)\/.*/\1/' <<<"$line")
    [ -d "$inc" ] || continue  # not a project header
    if ! grep -qw "$inc" <<<"${allowed[$layer]}"; then
      echo "layering violation: src/$file includes a $inc/ header, but $layer may use only: ${allowed[$layer]}"
      status=1
    fi
  done < <(grep -rHE '^#include "[a-z_]+/' "$layer" --include='*.h' --include='*.cc' | grep -v '_test\.cc:' || true)
done
[ $status -eq 0 ] && echo "layering: ok"
exit $status
