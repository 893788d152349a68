"""`llm-compare doctor`'s report: the CPU, the NVIDIA GPUs and what each backend can run on, each
probed in a child process with a time limit, so that a backend that fails or hangs costs one line."""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from llm_compare.core.formatting import human_bytes

PROBE_NAMES = ("cpu", "nvidia", "torch", "llama_cpp")
# Importing torch takes tens of seconds on a slow, busy machine.
PROBE_TIMEOUT_S = 60.0
LABELS = {"cpu": "CPU", "nvidia": "NVIDIA GPUs (NVML)", "torch": "torch", "llama_cpp": "llama-cpp-python"}


@dataclass(frozen=True)
class DoctorReport:
    probes: dict[str, dict]  # by probe name: what it found, or {"failure": why it found nothing}

    @property
    def gpu_found(self) -> bool:
        nvidia, torch = self.probes.get("nvidia", {}), self.probes.get("torch", {})
        return bool(nvidia.get("gpus") or torch.get("cuda_devices") or torch.get("mps_available"))

    def to_dict(self) -> dict:
        return {**self.probes, "gpu_found": self.gpu_found}


def probe_command(name: str) -> list[str]:
    return [sys.executable, "-m", "llm_compare.system.probes", name]


def run_probe(name: str, timeout_s: float = PROBE_TIMEOUT_S) -> dict:
    """One probe's answer, or {"failure": ...} saying in a few words why there is none."""
    try:
        done = subprocess.run(probe_command(name), capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return {"failure": f"probe timed out after {timeout_s:g} s"}
    except OSError as exc:
        return {"failure": f"probe could not start ({exc})"}
    lines = done.stdout.strip().splitlines()
    try:
        found = json.loads(lines[-1]) if done.returncode == 0 and lines else None
    except json.JSONDecodeError:
        found = None
    if not isinstance(found, dict):
        last_error = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"failure": f"probe failed (exit {done.returncode}: {last_error})"}
    return found


def diagnose(timeout_s: float = PROBE_TIMEOUT_S) -> DoctorReport:
    """Every probe, side by side: the report takes as long as the slowest."""
    with ThreadPoolExecutor(len(PROBE_NAMES)) as pool:
        answers = pool.map(lambda name: run_probe(name, timeout_s), PROBE_NAMES)
        return DoctorReport(dict(zip(PROBE_NAMES, answers, strict=True)))


def report_lines(report: DoctorReport) -> list[str]:
    lines = []
    for name in PROBE_NAMES:
        found = report.probes.get(name, {"failure": "not probed"})
        if "failure" in found:
            lines.append(f"{LABELS[name]}: {found['failure']}")
            continue
        try:
            lines += FORMATTERS[name](found)
        except (KeyError, TypeError, ValueError):  # a probe from another version of this package
            lines.append(f"{LABELS[name]}: probe answered in a form doctor cannot read")
    if not report.gpu_found:
        lines.append("no GPU found: models run on the CPU")
    return lines


def _cpu_lines(cpu: dict) -> list[str]:
    return [
        f"CPU: {cpu['model']}, {cpu['physical_cores']} cores ({cpu['logical_cores']} threads), "
        f"{human_bytes(cpu['ram_bytes'])} RAM"
    ]


def _nvidia_lines(nvidia: dict) -> list[str]:
    if not nvidia["gpus"]:
        return ["NVIDIA GPUs (NVML): none"]
    return [
        f"NVIDIA GPU {g['index']}: {g['name']}, {human_bytes(g['total_bytes'])} "
        f"({human_bytes(g['free_bytes'])} free)"
        for g in nvidia["gpus"]
    ]


def _torch_lines(torch: dict) -> list[str]:
    build = f"CUDA {torch['cuda_build']} build" if torch.get("cuda_build") else "CPU build"
    head = f"torch {torch['version']} ({build}): CPU capability {torch['cpu_capability']}"
    if torch["cuda_available"]:
        head += f", CUDA available ({len(torch['cuda_devices'])} devices)"
    else:
        head += ", CUDA not available"
    head += ", MPS available" if torch["mps_available"] else ", MPS not available"
    devices = [
        f"  torch cuda:{i}: {d['name']}, {human_bytes(d['total_bytes'])}"
        for i, d in enumerate(torch["cuda_devices"])
    ]
    return [head, *devices]


def _llama_cpp_lines(llama: dict) -> list[str]:
    offload = (
        "can offload layers to a GPU" if llama["gpu_offload"] else "CPU-only build (cannot offload to a GPU)"
    )
    return [
        f"llama-cpp-python {llama['version']}: {offload}",
        f"  llama.cpp system info: {llama['system_info']}",
    ]


FORMATTERS = {
    "cpu": _cpu_lines,
    "nvidia": _nvidia_lines,
    "torch": _torch_lines,
    "llama_cpp": _llama_cpp_lines,
}
