"""Which accelerator set-up builds for (CUDA, Metal, ROCm, Vulkan or the CPU), and what that means for
llama-cpp-python's build flags and torch's wheel index. Standard library only: scripts/setup.sh runs
it before the package's dependencies are installed.

    python -m llm_compare.system.accelerator plan [--venv .venv]

prints shell assignments for `eval` on stdout and one line for a person on stderr.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.machinery import PathFinder
from pathlib import Path

ACCELERATORS = ("cuda", "metal", "hip", "vulkan", "cpu")
OVERRIDE_ENV = "LLM_COMPARE_ACCELERATOR"
# Inside the virtual environment: what its llama-cpp-python was built for. A venv without it was set
# up by an earlier setup.sh, which always built for the CPU.
MARKER_NAME = "llm-compare-accelerator"
# PyPI's torch for Linux is the CUDA build (it brings the CUDA runtime as nvidia-* wheels, so only
# the driver is needed) and macOS's has MPS: those need no index. ROCm builds live on PyTorch's own
# index only. TORCH_INDEX_URL, where set, wins over all of these.
TORCH_INDEX_URLS = {"hip": "https://download.pytorch.org/whl/rocm6.4"}


class InvalidAccelerator(ValueError):
    """LLM_COMPARE_ACCELERATOR names no accelerator we build for."""


@dataclass(frozen=True)
class Platform:
    """What the choice depends on, gathered by `Platform.this_machine()` or written by a test."""

    system: str  # platform.system(): "Linux", "Darwin", "Windows"
    machine: str  # platform.machine(): "x86_64", "arm64", "aarch64"
    has_nvidia_gpu: bool
    nvcc: str | None  # the CUDA compiler's path, None where there is none
    env: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def this_machine(cls) -> Platform:
        return cls(platform.system(), platform.machine(), has_nvidia_gpu(), find_nvcc(os.environ), os.environ)

    @property
    def apple_silicon(self) -> bool:
        return self.system == "Darwin" and self.machine == "arm64"


@dataclass(frozen=True)
class Plan:
    accelerator: str
    reason: str  # why, for a person: "NVIDIA GPU and nvcc found"
    cmake_args: str  # for llama-cpp-python's build (its CMAKE_ARGS)
    torch_index_url: str | None  # None: pip's default index
    cudacxx: str | None = None  # the nvcc CMake is to use, where CUDA is built

    def summary(self) -> str:
        return f"llm-compare set-up: accelerator {self.accelerator} ({self.reason})"


def has_nvidia_gpu() -> bool:
    """True where the NVIDIA driver sees a GPU: the kernel module lists one, or nvidia-smi does."""
    gpus = Path("/proc/driver/nvidia/gpus")
    if gpus.is_dir() and any(gpus.iterdir()):
        return True
    if not shutil.which("nvidia-smi"):
        return False
    try:
        listed = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return False
    return listed.returncode == 0 and "GPU " in listed.stdout


def find_nvcc(env: Mapping[str, str]) -> str | None:
    """The CUDA compiler: on PATH, else under $CUDA_HOME, else where CUDA installs by default."""
    on_path = shutil.which("nvcc", path=env.get("PATH"))
    if on_path:
        return on_path
    candidates = [Path(env["CUDA_HOME"]) / "bin" / "nvcc"] if env.get("CUDA_HOME") else []
    candidates.append(Path("/usr/local/cuda/bin/nvcc"))
    return next((str(c) for c in candidates if c.is_file() and os.access(c, os.X_OK)), None)


def choose_accelerator(machine: Platform) -> tuple[str, str]:
    """(accelerator, reason). Raises InvalidAccelerator for an override we do not know."""
    override = machine.env.get(OVERRIDE_ENV, "").strip()
    if override:
        if override not in ACCELERATORS:
            raise InvalidAccelerator(
                f"{OVERRIDE_ENV}={override!r} is not an accelerator: use one of {', '.join(ACCELERATORS)}"
            )
        return override, f"set by {OVERRIDE_ENV}"
    if machine.has_nvidia_gpu and machine.nvcc:
        return "cuda", "NVIDIA GPU and nvcc found"
    if machine.has_nvidia_gpu:
        # llama.cpp's CUDA build needs the compiler; the driver alone runs but cannot build it.
        return "cpu", "NVIDIA GPU found but no CUDA compiler (nvcc): install the CUDA toolkit to use it"
    if machine.apple_silicon:
        return "metal", "Apple Silicon"
    return "cpu", "no GPU found"


def llama_cmake_args(accelerator: str, system: str) -> str:
    """llama-cpp-python's CMAKE_ARGS for `accelerator`."""
    if accelerator == "cpu":
        # llama.cpp turns Metal on by itself on a Mac; elsewhere the CPU build is its default.
        return "-DGGML_METAL=off" if system == "Darwin" else ""
    return {"cuda": "-DGGML_CUDA=on", "metal": "-DGGML_METAL=on", "hip": "-DGGML_HIP=on"}.get(
        accelerator, "-DGGML_VULKAN=on"
    )


def torch_index_url(accelerator: str, env: Mapping[str, str]) -> str | None:
    """The index torch is installed from. With Vulkan, torch stays on the CPU: any build does."""
    return env.get("TORCH_INDEX_URL") or TORCH_INDEX_URLS.get(accelerator)


def make_plan(machine: Platform) -> Plan:
    accelerator, reason = choose_accelerator(machine)
    return Plan(
        accelerator=accelerator,
        reason=reason,
        cmake_args=llama_cmake_args(accelerator, machine.system),
        torch_index_url=torch_index_url(accelerator, machine.env),
        cudacxx=machine.nvcc if accelerator == "cuda" else None,
    )


def llama_cpp_needs_build(accelerator: str, recorded: str | None, installed: bool) -> bool:
    """Whether set-up must compile llama-cpp-python itself (from source, past pip's wheel cache,
    which would hand back the CPU wheel it built before). Not installed and for the CPU: the
    ordinary `pip install` builds it."""
    if not installed:
        return accelerator != "cpu"
    return (recorded or "cpu") != accelerator


def torch_needs_reinstall(accelerator: str, torch_build: str | None) -> bool:
    """Whether the installed torch (its build: "cuda", "hip" or "cpu"; None when absent) must be
    replaced. Only a GPU torch is ever wanted over another: a CUDA torch also runs on the CPU."""
    return torch_build is not None and accelerator in ("cuda", "hip") and torch_build != accelerator


def installed_torch_build(site_packages: list[str]) -> str | None:
    """ "cuda", "hip" or "cpu" from torch/version.py under `site_packages`, read as text: importing
    torch takes seconds. None where torch is not installed."""
    spec = PathFinder.find_spec("torch", site_packages)
    if spec is None or not spec.submodule_search_locations:
        return None
    version_file = Path(next(iter(spec.submodule_search_locations))) / "version.py"
    text = version_file.read_text(encoding="utf-8") if version_file.is_file() else ""
    for build in ("cuda", "hip"):
        if re.search(rf"^{build}\s*(:[^=]*)?=\s*['\"]", text, re.MULTILINE):
            return build
    return "cpu"


def venv_site_packages(venv: Path) -> list[str]:
    return [str(p) for p in sorted(venv.glob("lib/python*/site-packages"))] + [
        str(p) for p in venv.glob("Lib/site-packages")
    ]


def recorded_accelerator(venv: Path) -> str | None:
    marker = venv / MARKER_NAME
    if not marker.is_file():
        return None
    return marker.read_text(encoding="utf-8").strip() or None


def shell_lines(plan: Plan, venv: Path | None) -> list[str]:
    """The plan as `NAME=value` lines a shell can `eval`; with `venv`, also what to reinstall there."""
    values = {
        "ACCELERATOR": plan.accelerator,
        "CMAKE_ARGS": plan.cmake_args,
        "TORCH_INDEX_URL": plan.torch_index_url or "",
        "CUDACXX": plan.cudacxx or "",
    }
    if venv is not None:
        site = venv_site_packages(venv)
        llama_installed = PathFinder.find_spec("llama_cpp", site) is not None
        build = llama_cpp_needs_build(plan.accelerator, recorded_accelerator(venv), llama_installed)
        values["ACCELERATOR_MARKER"] = str(venv / MARKER_NAME)
        values["BUILD_LLAMA_CPP"] = "yes" if build else "no"
        values["REINSTALL_TORCH"] = (
            "yes" if torch_needs_reinstall(plan.accelerator, installed_torch_build(site)) else "no"
        )
    return [f"{name}={shlex.quote(value)}" for name, value in values.items()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m llm_compare.system.accelerator", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    plan_parser = commands.add_parser("plan", help="print the set-up plan as shell assignments")
    plan_parser.add_argument(
        "--venv", type=Path, help="also say what to (re)build in this virtual environment"
    )
    args = parser.parse_args(argv)
    try:
        plan = make_plan(Platform.this_machine())
    except InvalidAccelerator as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print("\n".join(shell_lines(plan, args.venv)))
    print(plan.summary(), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
