#!/usr/bin/env bash
# Sets everything up and opens the dashboard at once. If models/ has no models yet, the demo
# models are built in the background meanwhile, smallest first; each shows up when it is ready.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
models_dir=${LLM_COMPARE_MODELS_DIR:-models}
exec .venv/bin/llm-compare ui --models-dir "$models_dir" --build-demo "$@"
