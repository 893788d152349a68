"""What this machine and the installed backends can run on, each asked in a child process by
`llm-compare doctor`: `python -m llm_compare.system.probes NAME` prints one JSON object.
Importing torch or llama_cpp takes seconds and can crash or hang: never in the caller's process."""

from __future__ import annotations

import json
import platform
import sys
from pathlib import Path


def probe_cpu() -> dict:
    import psutil

    return {
        "model": _cpu_model(),
        "physical_cores": psutil.cpu_count(logical=False),
        "logical_cores": psutil.cpu_count(logical=True),
        "ram_bytes": psutil.virtual_memory().total,
    }


def _cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    if sys.platform == "darwin":
        import subprocess

        done = subprocess.run(["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True, text=True)
        if done.returncode == 0 and done.stdout.strip():
            return done.stdout.strip()
    return platform.processor() or platform.machine()


def probe_nvidia() -> dict:
    from llm_compare.system.gpus import nvidia_gpus

    return {
        "gpus": [
            {"index": g.index, "name": g.name, "total_bytes": g.total_bytes, "free_bytes": g.free_bytes}
            for g in nvidia_gpus()
        ]
    }


def probe_torch() -> dict:
    import torch

    cuda = torch.cuda.is_available()
    return {
        "version": torch.__version__,
        "cuda_build": torch.version.cuda,  # the CUDA it was built for; None in a CPU build
        "cuda_available": cuda,
        "cuda_devices": [
            {"name": p.name, "total_bytes": p.total_memory}
            for p in (
                torch.cuda.get_device_properties(i) for i in range(torch.cuda.device_count() if cuda else 0)
            )
        ],
        "mps_available": torch.backends.mps.is_available(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
    }


def probe_llama_cpp() -> dict:
    import llama_cpp

    info = llama_cpp.llama_print_system_info()
    return {
        "version": llama_cpp.__version__,
        "gpu_offload": bool(llama_cpp.llama_supports_gpu_offload()),
        "system_info": (info.decode(errors="replace") if isinstance(info, bytes) else str(info)).strip(),
    }


PROBES = {"cpu": probe_cpu, "nvidia": probe_nvidia, "torch": probe_torch, "llama_cpp": probe_llama_cpp}


def main(name: str) -> int:
    try:
        found = PROBES[name]()
    except ImportError as exc:
        found = {"failure": f"not importable ({type(exc).__name__}: {exc})"}
    sys.stdout.flush()
    # The backends print to stdout from C; the answer is the last line.
    print("\n" + json.dumps(found), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
