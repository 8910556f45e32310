#!/usr/bin/env bash
# The README's first quick-start command ends here: run the freshly built hangar on a shared model.
set -euo pipefail
bin=${1:-build/hangar}
here=$(cd "$(dirname "$0")/.." && pwd)
model=${HANGAR_MODEL:-$here/../shared/models/llama3-d256-q4_k_m.gguf}
[ -f "$model" ] || { echo "no model at $model (set HANGAR_MODEL=path/to/model.gguf)" >&2; exit 1; }
"$bin" inspect "$model"
echo
exec "$bin" run -m "$model" -p "${HANGAR_PROMPT:-Once upon a time}" -n 32 --temp 0
