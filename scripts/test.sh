#!/usr/bin/env bash
# Sets everything up, checks the code with ruff, and runs the test suite on up to 4 cores
# (pytest-xdist); other arguments go to pytest (`-n 0`: one process).
#   scripts/test.sh              every test but the real-size ones: what CI runs
#   scripts/test.sh --quick      the edit-test loop: no browser tests, no tests marked slow
#   scripts/test.sh --real-size  only the tests on models of real size
set -euo pipefail
cd "$(dirname "$0")/.."

selection=()
case "${1:-}" in
    --quick) shift; selection=(-m "not browser and not slow and not real_size") ;;
    --real-size) shift; selection=(-m real_size) ;;
esac
cores=$(nproc 2>/dev/null || echo 2)
workers=$(( cores < 2 ? 2 : cores > 4 ? 4 : cores ))

scripts/setup.sh --test
# The code is checked first, in every tier: a lint or format slip fails in seconds.
.venv/bin/ruff check --quiet .
.venv/bin/ruff format --check --quiet .
# Tests marked `alone` wait until no other worker runs a test (tests/conftest.py); loadgroup
# keeps any xdist_group on one worker and spreads the rest test by test.
exec .venv/bin/python -m pytest -n "$workers" --dist loadgroup ${selection[@]+"${selection[@]}"} "$@"
