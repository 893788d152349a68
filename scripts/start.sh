#!/usr/bin/env bash
# Sets everything up, builds the demo models if models/ has none, and opens the dashboard.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
models_dir=${LLM_COMPARE_MODELS_DIR:-models}
if [ -z "$(find "$models_dir" -name '*.gguf' -o -name config.json 2>/dev/null | head -n 1)" ]; then
    echo "no models in $models_dir yet: building the demo models (offline, about 4 minutes) ..."
    .venv/bin/llm-compare demo --dir "$models_dir"
fi
exec .venv/bin/llm-compare ui --models-dir "$models_dir" "$@"
