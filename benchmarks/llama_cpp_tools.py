"""llama.cpp's own command-line tools (llama-bench, llama-perplexity), built once from the llama.cpp
sources inside the installed llama-cpp-python's source distribution (fetched with pip once) and
cached under ~/.cache/llm-compare: the C++ peers the benchmarks measure us against. Also
`decode_loop.c`, compiled against those sources' headers and the installed llama-cpp-python's own
libllama, for a C loop in the measuring process."""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import tarfile
import tempfile
from importlib.metadata import version as installed_version
from pathlib import Path

from llm_compare.modelbuild.vocab_files import VocabFilesUnavailable, source_distribution, vocab_cache_dir


def llama_cpp_tool(name: str) -> Path | None:
    """The cached binary `name` (a CMake target such as "llama-bench") of the installed
    llama-cpp-python version, built if missing; None (after saying why) when it cannot be built here."""
    version = installed_version("llama-cpp-python")
    target = vocab_cache_dir(version).with_name(f"llama-cpp-python-{version}-{name}") / name

    def build(sources: Path, scratch: Path) -> Path | str:
        build_dir = scratch / "build"
        # As llama-cpp-python builds it by default: native CPU code, OpenMP, no curl. Static, so the
        # binary can be kept without the build tree.
        configure = ["cmake", "-S", str(sources), "-B", str(build_dir), "-DCMAKE_BUILD_TYPE=Release", "-DLLAMA_CURL=OFF",
                     "-DGGML_NATIVE=ON", "-DBUILD_SHARED_LIBS=OFF", "-DLLAMA_BUILD_TESTS=OFF",
                     "-DLLAMA_BUILD_EXAMPLES=OFF", "-DLLAMA_BUILD_SERVER=OFF"]
        compile_ = ["cmake", "--build", str(build_dir), "--target", name, "-j", str(os.cpu_count() or 1)]
        for command in (configure, compile_):
            done = subprocess.run(command, check=False, capture_output=True, text=True)
            if done.returncode != 0:
                return f"`{' '.join(command[:3])} ...` failed:\n{done.stderr[-2000:]}"
        return build_dir / "bin" / name

    return _cached_build(name, target, ("cmake", "c++", "cc"), lambda member: True, build)


def c_decode_loop():
    """`decode_loop` of decode_loop.c as a ctypes function, on the libllama llama-cpp-python has
    loaded in this process (so it takes that library's context and sampler pointers); None (after
    saying why) when it cannot be compiled here."""
    import llama_cpp

    source = Path(__file__).with_name("decode_loop.c")
    version = installed_version("llama-cpp-python")
    digest = hashlib.sha256(source.read_bytes()).hexdigest()[:12]
    target = vocab_cache_dir(version).with_name(f"llama-cpp-python-{version}-decode-loop") / f"decode_loop-{digest}.so"
    library_dir = Path(llama_cpp.__file__).parent / "lib"

    def build(sources: Path, scratch: Path) -> Path | str:
        built = scratch / target.name
        command = ["cc", "-O2", "-shared", "-fPIC", "-o", str(built), str(source), f"-I{sources / 'include'}",
                   f"-I{sources / 'ggml' / 'include'}", f"-L{library_dir}", "-lllama", f"-Wl,-rpath,{library_dir}"]
        done = subprocess.run(command, check=False, capture_output=True, text=True)
        return built if done.returncode == 0 else f"compiling it failed:\n{done.stderr[-2000:]}"

    headers = ("/vendor/llama.cpp/include/", "/vendor/llama.cpp/ggml/include/")
    if not _cached_build("the C decode loop", target, ("cc",), lambda member: any(h in member for h in headers), build):
        return None
    function = ctypes.CDLL(str(target)).decode_loop
    function.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int32, ctypes.c_int,
                         ctypes.POINTER(ctypes.c_double), ctypes.POINTER(ctypes.c_double)]
    function.restype = ctypes.c_int
    return function


def _cached_build(what: str, target: Path, tools: tuple[str, ...], wanted, build) -> Path | None:
    """`target`, built first if missing: `build(llama.cpp's sources, a scratch folder)` gets the
    files of the installed llama-cpp-python's source distribution that `wanted(name)` picks and
    returns the file it made, or why it failed. None (after saying why) when it cannot be built."""
    if target.exists():
        return target
    missing = [tool for tool in tools if not shutil.which(tool)]
    if missing:
        print(f"{what} not measured: cannot build it without {', '.join(missing)} (install them)")
        return None
    try:
        sdist = source_distribution(installed_version("llama-cpp-python"))
    except VocabFilesUnavailable as exc:
        print(f"{what} not measured: {exc}")
        return None
    print(f"building {what} from {sdist.name} (cached in {target.parent}) ...", flush=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        with tarfile.open(sdist) as archive:
            archive.extractall(tmp, members=[m for m in archive.getmembers() if wanted(m.name)], filter="data")
        made = build(next(Path(tmp).glob("*/vendor/llama.cpp")), Path(tmp))
        if isinstance(made, str):
            print(f"{what} not measured: {made}")
            return None
        shutil.copy2(made, target)
    return target


if __name__ == "__main__":
    import sys

    for tool in sys.argv[1:]:
        print(tool, llama_cpp_tool(tool))
