"""Do our GPU figures hold on a real NVIDIA GPU? One script, under 5 minutes from a bare GPU machine
(Python 3.12, PyTorch, transformers, the CUDA compiler, CMake; no package registry):

- builds libllama and `llama-bench` only, for this GPU alone (CMAKE_CUDA_ARCHITECTURES, 90 by
  default: Hopper), from the llama.cpp inside llama-cpp-python's source distribution, and makes
  llama_cpp importable against that libllama;
- builds a random LLaMA (llm_compare.modelbuild) as a Hugging Face folder and an f32 GGUF, and runs
  both through the InferenceEngine on the GPU, as `llm-compare run` does (device="cuda",
  n_gpu_layers=-1);
- compares the GGUF run's decode and prefill speed with llama-bench's, its peak_vram_bytes with
  llama.cpp's own buffer sizes (model + KV + compute, from its log), the PyTorch run's
  peak_vram_bytes with NVML's per-process figure; checks that every layer was offloaded and that
  result.device names the GPU; prints one table.

Without a GPU it prints the table with "no GPU" in every row and exits 0, before building anything.

On the device machine (benchmarks/gpu_check_carry.sh first gathers, here, what it lacks):

    benchmarks/gpu_check_carry.sh                      # -> artifacts/gpu_check_carry/ (< 64 MiB)
    run(command="python3 benchmarks/gpu_check.py --carry artifacts/gpu_check_carry",
        carry=["artifacts/gpu_check_carry"], timeout_s=540)

    python benchmarks/gpu_check.py [--carry DIR] [--work DIR] [--cuda-arch 90] [--tokens 128]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from llm_compare.system.accelerator import find_nvcc, has_nvidia_gpu  # noqa: E402  (standard library only)

# The modules our code needs beyond what PyTorch and transformers bring, by their wheels' names.
CARRIED = {
    "pydantic": "pydantic",
    "gguf": "gguf",
    "psutil": "psutil",
    "pynvml": "nvidia-ml-py",
    "diskcache": "diskcache",
}
PREFILL_TOKENS = 512
N_CTX = 1024
LLAMA_LOG_BUFFER = re.compile(r"CUDA0 (model|KV|compute) buffer size\s*=\s*([\d.]+) MiB")
ROW_NAMES = (
    "GGUF decode tok/s (ours vs llama-bench)",
    "GGUF prefill tok/s (ours vs llama-bench)",
    "GGUF peak VRAM (ours vs llama.cpp buffers)",
    "GGUF layers offloaded",
    "GGUF device",
    "PyTorch peak VRAM (ours vs NVML per process)",
    "PyTorch device",
)


@dataclass
class Row:
    check: str
    ours: str = "no GPU"
    reference: str = "no GPU"
    verdict: str = "no GPU"


def print_table(rows: list[Row]) -> None:
    print("| check | ours | reference | verdict |\n|---|---|---|---|")
    for row in rows:
        print(f"| {row.check} | {row.ours} | {row.reference} | {row.verdict} |")


def mib(n_bytes: float | None) -> str:
    return "–" if n_bytes is None else f"{n_bytes / 2**20:,.0f} MiB"


def install_carried(carry: Path | None) -> None:
    """The missing pure dependencies, from the carried wheels (no registry); pip skips whatever
    of their own dependencies is already installed."""
    missing = [wheel for module, wheel in CARRIED.items() if importlib.util.find_spec(module) is None]
    if not missing:
        return
    if carry is None:
        sys.exit(f"missing {', '.join(missing)}: give --carry (see benchmarks/gpu_check_carry.sh)")
    find_links = ["--no-index", "--find-links", str(carry / "wheels")]
    # A bare machine's Python may be the system's (PEP 668): it is thrown away after the check.
    env = {**os.environ, "PIP_BREAK_SYSTEM_PACKAGES": "1"}
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", *find_links, *missing], check=True, env=env)
    importlib.invalidate_caches()


def build_llama_cpp(sdist: Path, work: Path, site: Path, cuda_arch: str) -> Path:
    """libllama (shared, CUDA for `cuda_arch` only) and llama-bench; llama_cpp's Python package
    copied into `site` against that libllama, with the headers and metadata our token loop reads.
    Returns llama-bench's path."""
    with tarfile.open(sdist) as archive:
        archive.extractall(work, filter="data")
    source = next(work.glob("llama_cpp_python-*"))
    build = work / "build"
    configure = [
        "cmake",
        "-S",
        str(source / "vendor" / "llama.cpp"),
        "-B",
        str(build),
        "-DCMAKE_BUILD_TYPE=Release",
        "-DGGML_CUDA=ON",
        f"-DCMAKE_CUDA_ARCHITECTURES={cuda_arch}",
        "-DBUILD_SHARED_LIBS=ON",
        "-DLLAMA_CURL=OFF",
        "-DLLAMA_BUILD_TESTS=OFF",
        "-DLLAMA_BUILD_EXAMPLES=OFF",
        "-DLLAMA_BUILD_SERVER=OFF",
    ]
    nvcc = find_nvcc(os.environ)
    if nvcc:
        configure.append(f"-DCMAKE_CUDA_COMPILER={nvcc}")
    subprocess.run(configure, check=True, stdout=subprocess.DEVNULL)
    jobs = str(os.cpu_count() or 1)
    subprocess.run(
        ["cmake", "--build", str(build), "--target", "llama", "llama-bench", "-j", jobs],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    package = site / "llama_cpp"
    shutil.copytree(source / "llama_cpp", package, dirs_exist_ok=True)
    (package / "lib").mkdir(exist_ok=True)
    for library in build.rglob("*.so*"):
        shutil.copy2(library, package / "lib" / library.name, follow_symlinks=True)
    include = site / "include"
    include.mkdir(exist_ok=True)
    for header_dir in (source / "vendor/llama.cpp/include", source / "vendor/llama.cpp/ggml/include"):
        for header in header_dir.glob("*.h"):
            shutil.copy2(header, include / header.name)
    version = sdist.name.removeprefix("llama_cpp_python-").removesuffix(".tar.gz")
    dist_info = site / f"llama_cpp_python-{version}.dist-info"
    dist_info.mkdir(exist_ok=True)
    (dist_info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: llama-cpp-python\nVersion: {version}\n"
    )
    (dist_info / "RECORD").write_text("".join(f"include/{h.name},,\n" for h in include.glob("*.h")))
    return build / "bin" / "llama-bench"


def llama_bench(binary: Path, gguf: Path, tokens: int) -> dict[str, float]:
    """llama-bench's tok/s on the GPU: {"decode": tg, "prefill": pp}."""
    done = subprocess.run(
        [
            str(binary),
            "-m",
            str(gguf),
            "-ngl",
            "99",
            "-p",
            str(PREFILL_TOKENS),
            "-n",
            str(tokens),
            "-o",
            "json",
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    speeds = {}
    for test in json.loads(done.stdout):
        speeds["prefill" if test["n_prompt"] else "decode"] = float(test["avg_ts"])
    return speeds


def llama_cpp_buffers(gguf: Path) -> int:
    """llama.cpp's CUDA0 model + KV + compute buffers for this file and context, from its log."""
    code = (
        f"import sys, llama_cpp\nllama_cpp.Llama(sys.argv[1], n_gpu_layers=-1, n_ctx={N_CTX}, verbose=True)\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(gguf)], capture_output=True, text=True, check=True)
    return int(sum(float(mib_) for _, mib_ in LLAMA_LOG_BUFFER.findall(done.stderr)) * 2**20)


def nvml_bytes_of_children(gpu_index: int) -> int | None:
    """GPU memory held now by this process's children (the engine's workers), as NVML counts it."""
    import psutil

    from llm_compare.system.gpus import process_gpu_bytes

    held = [process_gpu_bytes(child.pid, gpu_index) for child in psutil.Process().children(recursive=True)]
    held = [b for b in held if b is not None]
    return sum(held) if held else None


def ratio_verdict(ours: float | None, reference: float | None, low: float, high: float) -> str:
    if not ours or not reference:
        return "not measured"
    ratio = ours / reference
    return f"{ratio:.2f}× ({'ok' if low <= ratio <= high else 'OFF'})"


def check_on_gpu(args: argparse.Namespace, gpu_name: str) -> list[Row]:
    work = Path(args.work or tempfile.mkdtemp(prefix="gpu-check-"))
    site = work / "site"
    site.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(site))
    # The engine's workers are child processes: they find the same packages.
    os.environ["PYTHONPATH"] = os.pathsep.join([str(site), str(ROOT), os.environ.get("PYTHONPATH", "")])
    install_carried(args.carry)
    carry = args.carry or Path()
    sdist = next(carry.glob("llama_cpp_python-*.tar.gz"), None)
    if sdist is None:
        sys.exit("no llama_cpp_python-*.tar.gz to build from: give --carry (see gpu_check_carry.sh)")
    print(f"building libllama and llama-bench for CUDA arch {args.cuda_arch} ...", flush=True)
    bench_binary = build_llama_cpp(sdist, work / "llama", site, args.cuda_arch)

    from llm_compare.core.config import ModelConfig
    from llm_compare.modelbuild.tiny import build_random_llama
    from llm_compare.services.discovery.model_manager import ModelManager
    from llm_compare.services.engine.engine import InferenceEngine

    print("building the model ...", flush=True)
    model = build_random_llama(
        work / "models", hidden=1024, layers=8, heads=16, intermediate=2816, vocab=4096
    )
    by_type = {m.type.value: m for m in ModelManager([work / "models"]).scan()}
    gguf_model, torch_model = by_type["gguf"], by_type["pytorch"]
    long_prompt = "def read_config(path):\n    return path\n" * (PREFILL_TOKENS // 12)
    config = ModelConfig(
        temperature=0.0, mode="raw", max_tokens=args.tokens, n_ctx=N_CTX, n_gpu_layers=-1, device="cuda"
    )
    engine = InferenceEngine(max_models=2)
    results = {}
    try:
        for name, info in (("gguf", gguf_model), ("pytorch", torch_model)):
            for _ in range(2):  # the second run is the one counted: the first loads and warms up
                done = [
                    e.result for e in engine.run(long_prompt, [info], {info.id: config}) if e.kind == "done"
                ]
            results[name] = done[0]
        torch_nvml = nvml_bytes_of_children(0)  # the PyTorch worker still holds its model
    finally:
        engine.shutdown()
    for name, result in results.items():
        if result.error:
            print(f"{name}: {result.error}")
    bench = llama_bench(bench_binary, model.gguf_f32, args.tokens)
    buffers = llama_cpp_buffers(model.gguf_f32)
    gguf, torch_ = results["gguf"].stats, results["pytorch"].stats
    return [
        Row(
            ROW_NAMES[0],
            f"{gguf.decode_tps or 0:,.0f}",
            f"{bench['decode']:,.0f}",
            ratio_verdict(gguf.decode_tps, bench["decode"], 0.8, 1.2),
        ),
        Row(
            ROW_NAMES[1],
            f"{gguf.prefill_tps or 0:,.0f}",
            f"{bench['prefill']:,.0f}",
            ratio_verdict(gguf.prefill_tps, bench["prefill"], 0.5, 1.5),
        ),
        # Ours holds the CUDA context too (hundreds of MiB): above the buffers, never below.
        Row(
            ROW_NAMES[2],
            mib(gguf.peak_vram_bytes),
            mib(buffers),
            ratio_verdict(gguf.peak_vram_bytes, buffers, 1.0, 10),
        ),
        Row(
            ROW_NAMES[3],
            f"{gguf.gpu_layers_offloaded}/{gguf.gpu_layers_total}",
            "all",
            "ok" if gguf.gpu_layers_total and gguf.gpu_layers_offloaded == gguf.gpu_layers_total else "OFF",
        ),
        Row(ROW_NAMES[4], str(results["gguf"].device), gpu_name, _names(results["gguf"].device, gpu_name)),
        Row(
            ROW_NAMES[5],
            mib(torch_.peak_vram_bytes),
            mib(torch_nvml),
            ratio_verdict(torch_.peak_vram_bytes, torch_nvml, 0.8, 1.5),
        ),
        Row(
            ROW_NAMES[6],
            str(results["pytorch"].device),
            gpu_name,
            _names(results["pytorch"].device, gpu_name),
        ),
    ]


def _names(device: str | None, gpu_name: str) -> str:
    return "ok" if device and gpu_name in device else "OFF"


def gpu_name_from_nvidia_smi() -> str:
    done = subprocess.run(
        ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True, text=True
    )
    return (done.stdout.strip().splitlines() or ["NVIDIA GPU"])[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--carry", type=Path, help="the folder gpu_check_carry.sh filled (wheels, sdist)")
    parser.add_argument("--work", type=Path, help="where to build (default: a new temporary folder)")
    parser.add_argument("--cuda-arch", default="90", help="CMAKE_CUDA_ARCHITECTURES (default: 90, Hopper)")
    parser.add_argument("--tokens", type=int, default=128, help="tokens to decode per run")
    args = parser.parse_args()
    # Decided before anything is built or imported: without a GPU, the table says so at once.
    if not has_nvidia_gpu():
        print_table([Row(name) for name in ROW_NAMES])
        return 0
    gpu_name = gpu_name_from_nvidia_smi()
    print(f"GPU: {gpu_name}", flush=True)
    print_table(check_on_gpu(args, gpu_name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
