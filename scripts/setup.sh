#!/usr/bin/env bash
# Sets up llm-compare in ./.venv (idempotent). With --test, also what the test suite needs:
# pytest, Playwright's Python package, llama.cpp's vocabulary files and Debian's Chromium for the
# browser test.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv
pip() { .venv/bin/python -m pip --disable-pip-version-check -q "$@"; }
pip install --upgrade pip

# What to build for: CUDA, Metal, ROCm, Vulkan or the CPU (LLM_COMPARE_ACCELERATOR overrides),
# and whether this venv was built for something else (a GPU appeared, the override changed).
# Standard library only, so it runs before anything is installed; it prints its choice.
plan=$(.venv/bin/python -m llm_compare.system.accelerator plan --venv .venv)
eval "$plan"
export CMAKE_ARGS
if [ -n "$CUDACXX" ]; then export CUDACXX; fi  # where nvcc is off PATH, CMake would not find it

# torch first, pinned: its version decides what the tests were checked against. PyPI's torch for
# Linux is the CUDA build; on a machine without a GPU, set TORCH_INDEX_URL to PyTorch's CPU wheel
# index (https://download.pytorch.org/whl/cpu) if your pip would otherwise fetch that multi-GB one.
if [ "$REINSTALL_TORCH" = yes ]; then
    echo "replacing torch: the installed one is not built for $ACCELERATOR ..."
    pip uninstall -y torch  # not --force-reinstall --no-deps: a CUDA torch needs its nvidia-* wheels
fi
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
    echo "installing torch for $ACCELERATOR ..."
    pip install ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"} "torch==2.13.0"
fi
if [ "$BUILD_LLAMA_CPP" = yes ]; then
    # From source, past pip's wheel cache, which would hand back the wheel built for the CPU.
    echo "building llama-cpp-python for $ACCELERATOR (CMAKE_ARGS=$CMAKE_ARGS): compiles llama.cpp, minutes ..."
    pip install --force-reinstall --no-deps --no-cache-dir --no-binary llama-cpp-python "llama-cpp-python>=0.3.36"
elif ! .venv/bin/python -c "import llama_cpp" 2>/dev/null; then
    echo "installing llama-cpp-python (compiles llama.cpp: about 5 minutes on 2 cores, once) ..."
fi
extras=""
[ "${1:-}" = "--test" ] && extras="[dev]"
pip install -e ".${extras}"
echo "$ACCELERATOR" >"$ACCELERATOR_MARKER"  # what this venv's llama-cpp-python is built for
# The GGUF backend's token loop in C, against the llama.cpp just installed (else on first use).
.venv/bin/python -m llm_compare.inferencers.token_loop

if [ "${1:-}" = "--test" ]; then
    # Real tokenizers for the parity tests: llama.cpp's vocabulary files, from llama-cpp-python's
    # source distribution on PyPI (once per machine; kept in ~/.cache/llm-compare).
    echo "fetching llama.cpp's vocabulary files ..."
    .venv/bin/python -m llm_compare.modelbuild.vocab_files
fi

# In CI (CI=true) the browser test fails rather than skips without chromium.
if [ "${1:-}" = "--test" ] && ! command -v chromium >/dev/null; then
    as_root=none
    if [ "$(id -u)" = 0 ]; then as_root=""; elif sudo -n true 2>/dev/null; then as_root=sudo; fi
    if [ "$as_root" != none ]; then
        echo "installing Debian's chromium for the browser test ..."
        $as_root apt-get update -qq
        $as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    else
        echo "note: chromium is not installed; the browser test will be skipped (sudo apt-get install chromium)"
    fi
fi
