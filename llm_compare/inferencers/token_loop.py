"""The GGUF backend's token loop: token_loop.c's `llmc_generate`, compiled once per machine against
the installed llama-cpp-python's own llama.h and libllama and kept in the cache folder; where it
cannot be compiled (no C compiler, no llama.h in the installed package), the same loop in Python.

llama-cpp-python itself is compiled on install, so a machine that has it can usually compile this.
The Python loop is the same loop, token for token, slower by what Python costs between two
llama_decode calls (docs/performance.md, GGUF against llama.cpp).
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path
from time import perf_counter

from llm_compare.system.paths import cache_home

SOURCE = Path(__file__).with_name("token_loop.c")

# llmc_generate(ctx, sampler, vocab, pending, limit, until, ids, times, status) -> tokens drawn
TokenLoop = Callable[..., int]


class CannotCompile(RuntimeError):
    """A C file cannot be compiled against llama.cpp here; the message says why in a few words."""


@functools.cache
def load_token_loop() -> tuple[TokenLoop, str]:
    """(the token loop, how it runs: "C", or "Python" and why not C). Compiles it on first use."""
    try:
        function = ctypes.CDLL(str(compiled_against_llama())).llmc_generate
    except (CannotCompile, OSError, subprocess.SubprocessError) as exc:
        return python_token_loop, f"Python ({exc})"
    function.argtypes = [
        ctypes.c_void_p,
        ctypes.c_void_p,
        ctypes.c_void_p,
        ctypes.c_int32,
        ctypes.c_int,
        ctypes.c_double,
        ctypes.POINTER(ctypes.c_int32),
        ctypes.POINTER(ctypes.c_double),
        ctypes.POINTER(ctypes.c_int),
    ]
    function.restype = ctypes.c_int
    return function, "C"


def compiled_against_llama(source: Path = SOURCE) -> Path:
    """`source` compiled into a shared library against the installed llama-cpp-python's llama.h
    and libllama, from the cache when this source, llama.h and libllama were compiled together
    before (the file's name holds a digest of all three)."""
    import llama_cpp

    header = _installed_header()
    library_dir = Path(llama_cpp.__file__).parent / "lib"
    digest = hashlib.sha256(source.read_bytes() + header.read_bytes() + os.fsencode(library_dir)).hexdigest()[
        :16
    ]
    target = cache_home() / "compiled" / f"{source.stem}-{llama_cpp.__version__}-{digest}.so"
    if target.exists():
        return target
    compiler = os.environ.get("CC") or shutil.which("cc")
    if not compiler:
        raise CannotCompile("no C compiler: install cc, or set CC")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        built = Path(scratch) / target.name
        command = [
            compiler,
            "-O2",
            "-shared",
            "-fPIC",
            "-o",
            str(built),
            str(source),
            f"-I{header.parent}",
            f"-L{library_dir}",
            "-lllama",
            f"-Wl,-rpath,{library_dir}",
        ]
        done = subprocess.run(command, check=False, capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            first_error = next(
                (line for line in done.stderr.splitlines() if "error" in line), done.stderr.strip()
            )
            raise CannotCompile(f"compiling {source.name} failed: {first_error[:200]}")
        os.replace(built, target)  # atomic: a worker compiling at the same time reads either file whole
    return target


def _installed_header() -> Path:
    try:
        files = distribution("llama-cpp-python").files or []
    except PackageNotFoundError as exc:
        raise CannotCompile("llama-cpp-python is not installed") from exc
    header = next((file for file in files if file.name == "llama.h"), None)
    if header is None:
        raise CannotCompile("the installed llama-cpp-python has no llama.h")
    return Path(header.locate())


def python_token_loop(
    ctx, sampler, vocab, pending: int, limit: int, until: float, ids, times, status: ctypes.c_int
) -> int:
    """token_loop.c's llmc_generate, line for line, for where it cannot be compiled."""
    import llama_cpp as L

    token = (L.llama_token * 1)()
    batch = L.llama_batch_get_one(token, 1)
    status.value = 0
    for n in range(limit):
        if pending >= 0:
            token[0] = pending
            status.value = L.llama_decode(ctx, batch)
            if status.value:
                return n
        pending = ids[n] = L.llama_sampler_sample(sampler, ctx, -1)
        times[n] = perf_counter()
        if L.llama_vocab_is_eog(vocab, pending) or times[n] >= until:
            return n + 1
    return limit


if __name__ == "__main__":  # scripts/setup.sh compiles it ahead of the first run
    print("token loop:", load_token_loop()[1])
