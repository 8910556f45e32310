#!/usr/bin/env bash
# The README's first quick-start command ends here: start `hangar serve` on ./models (linking a
# small shared model there when it is empty) and show how to call it.
set -euo pipefail
bin=${1:-build/hangar}
here=$(cd "$(dirname "$0")/.." && pwd)
models=${HANGAR_MODELS_DIR:-$here/models}
port=${HANGAR_PORT:-8080}
state=${HANGAR_STATE_DIR:-$here/state}
mkdir -p "$models"
if ! ls "$models"/*.gguf >/dev/null 2>&1; then
  model=${HANGAR_MODEL:-$here/../shared/models/qwen2-d256-q4_k_m.gguf}
  [ -f "$model" ] || { echo "no model in $models and none at $model (set HANGAR_MODEL=path/to/model.gguf)" >&2; exit 1; }
  ln -s "$(cd "$(dirname "$model")" && pwd)/$(basename "$model")" "$models/"
  echo "linked $(basename "$model") into $models"
fi
id=$(basename "$(ls "$models"/*.gguf | head -n 1)" .gguf)
cat <<MSG

hangar serve is starting on http://127.0.0.1:$port (Ctrl-C stops it). From another terminal:

  curl http://127.0.0.1:$port/v1/models
  curl http://127.0.0.1:$port/v1/chat/completions -H 'Content-Type: application/json' \\
    -d '{"model": "$id", "messages": [{"role": "user", "content": "Hello"}], "max_tokens": 32}'

Any OpenAI client works with base URL http://127.0.0.1:$port/v1. Add models by copying .gguf
files into $models and calling: curl -d '' http://127.0.0.1:$port/v1/models/refresh

MSG
exec "$bin" serve --models-dir "$models" --state-dir "$state" --port "$port"
