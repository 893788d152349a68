#!/usr/bin/env bash
# Runs CI (.ci/run) on N fresh clones of this repository's HEAD, one after another, while the demo
# build loads the machine in a loop: does the suite hold on a busy machine? Prints one line a run.
#   scripts/ci_under_load.sh [N]   (default 3; the clones and logs go under a temporary folder)
set -uo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
work=$(mktemp -d)
( while true; do rm -rf "$work/demo"; .venv/bin/llm-compare demo --dir "$work/demo" >/dev/null 2>&1; done ) &
loader=$!
trap 'kill $loader 2>/dev/null; pkill -f "llm-compare demo --dir $work/demo"' EXIT
for i in $(seq 1 "$runs"); do
    git clone -q . "$work/clone$i"
    start=$(date +%s)
    (cd "$work/clone$i" && CI=true bash .ci/run >"$work/run$i.log" 2>&1)
    rc=$?
    echo "run $i: exit $rc, $(( $(date +%s) - start )) s, $(grep -E ' (passed|failed)' "$work/run$i.log" | tail -1)," \
        "load average $(cut -d' ' -f1-3 /proc/loadavg), log $work/run$i.log"
done
