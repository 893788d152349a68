"""llama.cpp's own command-line tools (llama-bench, llama-perplexity), built once from the llama.cpp
sources inside the installed llama-cpp-python's source distribution (fetched with pip once) and
cached under ~/.cache/llm-compare: the C++ peers the benchmarks measure us against. Also
`decode_loop.c`, compiled as the GGUF backend's token loop is, for a C loop in the measuring process."""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import tarfile
import tempfile
from importlib.metadata import version as installed_version
from pathlib import Path

from llm_compare.inferencers.token_loop import CannotCompile, compiled_against_llama
from llm_compare.modelbuild.vocab_files import VocabFilesUnavailable, source_distribution, vocab_cache_dir


def llama_cpp_tool(name: str) -> Path | None:
    """The cached binary `name` (a CMake target such as "llama-bench") of the installed
    llama-cpp-python version, built if missing; None (after saying why) when it cannot be built here."""
    version = installed_version("llama-cpp-python")
    target = vocab_cache_dir(version).with_name(f"llama-cpp-python-{version}-{name}") / name
    if target.exists():
        return target
    missing = [tool for tool in ("cmake", "c++", "cc") if not shutil.which(tool)]
    if missing:
        print(f"{name} not measured: cannot build it without {', '.join(missing)} (install them)")
        return None
    try:
        sdist = source_distribution(version)
    except VocabFilesUnavailable as exc:
        print(f"{name} not measured: {exc}")
        return None
    print(f"building {name} from {sdist.name} (cached in {target.parent}) ...", flush=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        with tarfile.open(sdist) as archive:
            archive.extractall(tmp, filter="data")
        build_dir = Path(tmp) / "build"
        # As llama-cpp-python builds it by default: native CPU code, OpenMP, no curl. Static, so the
        # binary can be kept without the build tree.
        configure = [
            "cmake",
            "-S",
            str(next(Path(tmp).glob("*/vendor/llama.cpp"))),
            "-B",
            str(build_dir),
            "-DCMAKE_BUILD_TYPE=Release",
            "-DLLAMA_CURL=OFF",
            "-DGGML_NATIVE=ON",
            "-DBUILD_SHARED_LIBS=OFF",
            "-DLLAMA_BUILD_TESTS=OFF",
            "-DLLAMA_BUILD_EXAMPLES=OFF",
            "-DLLAMA_BUILD_SERVER=OFF",
        ]
        compile_ = ["cmake", "--build", str(build_dir), "--target", name, "-j", str(os.cpu_count() or 1)]
        for command in (configure, compile_):
            done = subprocess.run(command, check=False, capture_output=True, text=True)
            if done.returncode != 0:
                print(f"{name} not measured: `{' '.join(command[:3])} ...` failed:\n{done.stderr[-2000:]}")
                return None
        shutil.copy2(build_dir / "bin" / name, target)
    return target


def c_decode_loop():
    """`decode_loop` of decode_loop.c as a ctypes function, compiled as the GGUF backend compiles its
    token loop (against the installed llama-cpp-python's llama.h and the libllama it has loaded in
    this process, so it takes that library's context and sampler pointers); None (after saying
    why) when it cannot be compiled here."""
    try:
        function = ctypes.CDLL(
            str(compiled_against_llama(Path(__file__).with_name("decode_loop.c")))
        ).decode_loop
    except (CannotCompile, OSError, subprocess.SubprocessError) as exc:
        print(f"the C decode loop not measured: {exc}")
        return None
    function.argtypes = [
        ctypes.c_void_p,
        ctypes.c_void_p,
        ctypes.c_int32,
        ctypes.c_int,
        ctypes.POINTER(ctypes.c_double),
        ctypes.POINTER(ctypes.c_double),
    ]
    function.restype = ctypes.c_int
    return function


if __name__ == "__main__":
    import sys

    for tool in sys.argv[1:]:
        print(tool, llama_cpp_tool(tool))
