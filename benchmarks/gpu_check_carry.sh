#!/usr/bin/env bash
# Gathers, on a machine with a package registry, what benchmarks/gpu_check.py needs on a bare GPU
# machine (Python 3.12, PyTorch, transformers, CUDA compiler, CMake, no registry): Python 3.12
# manylinux wheels of our dependencies that PyTorch and transformers do not bring (pydantic, gguf,
# psutil, nvidia-ml-py, diskcache, and theirs), and llama-cpp-python's source distribution without
# what the build does not use (a git pack, vendor/llama.cpp's models, docs and benches: most of its
# 73 MiB). Into artifacts/gpu_check_carry/ (git-ignored): 32 MiB, under the device tool's 64 MiB
# carry limit. Then, with the device tool:
#
#   run(command="python3 benchmarks/gpu_check.py --carry artifacts/gpu_check_carry",
#       carry=["artifacts/gpu_check_carry"], timeout_s=540)
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-.venv/bin/python}
out=artifacts/gpu_check_carry
rm -rf "$out" && mkdir -p "$out/wheels"

"$python" -m pip download -q --dest "$out/wheels" --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux2014_x86_64 --platform manylinux_2_28_x86_64 \
    pydantic gguf psutil nvidia-ml-py diskcache

# The sdist of the installed llama-cpp-python (cached once per machine), repacked without the models.
sdist=$("$python" -c "from llm_compare.modelbuild.vocab_files import source_distribution as s; print(s())")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
tar -xzf "$sdist" -C "$tmp"
rm -rf "$tmp"/llama_cpp_python-*/{.git,vendor/llama.cpp/models,vendor/llama.cpp/docs,vendor/llama.cpp/benches}
tar -czf "$out/$(basename "$sdist")" -C "$tmp" .
du -sh "$out"
