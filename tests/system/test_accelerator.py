"""Which accelerator set-up builds for, decided on described machines (no GPU needed)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from llm_compare.system.accelerator import (
    ACCELERATORS,
    MARKER_NAME,
    InvalidAccelerator,
    Platform,
    installed_torch_build,
    llama_cpp_needs_build,
    make_plan,
    shell_lines,
    torch_needs_reinstall,
)

ROOT = Path(__file__).resolve().parents[2]
NVCC = "/usr/local/cuda/bin/nvcc"


def linux(gpu: bool = False, nvcc: str | None = None, **env: str) -> Platform:
    return Platform("Linux", "x86_64", has_nvidia_gpu=gpu, nvcc=nvcc, env=env)


def mac(machine: str = "arm64", **env: str) -> Platform:
    return Platform("Darwin", machine, has_nvidia_gpu=False, nvcc=None, env=env)


def test_an_nvidia_gpu_with_nvcc_builds_for_cuda_with_pypis_cuda_torch():
    plan = make_plan(linux(gpu=True, nvcc=NVCC))
    assert (plan.accelerator, plan.cmake_args, plan.torch_index_url) == ("cuda", "-DGGML_CUDA=on", None)
    assert plan.cudacxx == NVCC
    assert plan.summary() == "llm-compare set-up: accelerator cuda (NVIDIA GPU and nvcc found)"


def test_an_nvidia_gpu_without_nvcc_builds_for_the_cpu_and_says_what_is_missing():
    plan = make_plan(linux(gpu=True, nvcc=None))
    assert plan.accelerator == "cpu" and plan.cmake_args == ""
    assert "no CUDA compiler (nvcc)" in plan.reason and plan.cudacxx is None


def test_nvcc_without_a_gpu_builds_for_the_cpu():
    plan = make_plan(linux(gpu=False, nvcc=NVCC))
    assert (plan.accelerator, plan.reason, plan.cudacxx) == ("cpu", "no GPU found", None)


def test_apple_silicon_keeps_metal_on():
    plan = make_plan(mac("arm64"))
    assert (plan.accelerator, plan.cmake_args, plan.torch_index_url) == ("metal", "-DGGML_METAL=on", None)


def test_an_intel_mac_builds_for_the_cpu_with_metal_turned_off():
    plan = make_plan(mac("x86_64"))
    assert (plan.accelerator, plan.cmake_args) == ("cpu", "-DGGML_METAL=off")


def test_plain_linux_builds_for_the_cpu_with_llama_cpps_defaults():
    plan = make_plan(linux())
    assert (plan.accelerator, plan.cmake_args, plan.torch_index_url) == ("cpu", "", None)


@pytest.mark.parametrize(
    ("override", "cmake_args", "index"),
    [
        ("cuda", "-DGGML_CUDA=on", None),
        ("metal", "-DGGML_METAL=on", None),
        ("hip", "-DGGML_HIP=on", "https://download.pytorch.org/whl/rocm6.4"),
        ("vulkan", "-DGGML_VULKAN=on", None),
        ("cpu", "", None),
    ],
)
def test_the_override_wins_over_what_is_found(override, cmake_args, index):
    plan = make_plan(linux(gpu=True, nvcc=NVCC, LLM_COMPARE_ACCELERATOR=override))
    assert (plan.accelerator, plan.cmake_args, plan.torch_index_url) == (override, cmake_args, index)
    assert plan.reason == "set by LLM_COMPARE_ACCELERATOR"


def test_the_cpu_override_on_apple_silicon_turns_metal_off():
    assert make_plan(mac(LLM_COMPARE_ACCELERATOR="cpu")).cmake_args == "-DGGML_METAL=off"


def test_torch_index_url_from_the_user_wins():
    plan = make_plan(linux(LLM_COMPARE_ACCELERATOR="hip", TORCH_INDEX_URL="https://example.org/whl"))
    assert plan.torch_index_url == "https://example.org/whl"


def test_an_unknown_override_names_the_valid_ones():
    with pytest.raises(InvalidAccelerator, match="use one of cuda, metal, hip, vulkan, cpu"):
        make_plan(linux(LLM_COMPARE_ACCELERATOR="gpu"))


@pytest.mark.parametrize(
    ("accelerator", "recorded", "installed", "build"),
    [
        ("cpu", None, True, False),  # a venv from before the marker: built for the CPU, kept
        ("cpu", "cpu", True, False),
        ("cuda", "cpu", True, True),  # a GPU appeared
        ("cuda", None, True, True),
        ("cpu", "cuda", True, True),  # the override changed back
        ("cuda", "cuda", True, False),
        ("cpu", None, False, False),  # the ordinary pip install builds the CPU one
        ("metal", None, False, True),  # pip's cache may hold a CPU wheel
    ],
)
def test_llama_cpp_is_rebuilt_only_when_the_accelerator_changes(accelerator, recorded, installed, build):
    assert llama_cpp_needs_build(accelerator, recorded, installed) is build


@pytest.mark.parametrize(
    ("accelerator", "torch_build", "reinstall"),
    [
        ("cuda", "cpu", True),
        ("cuda", "cuda", False),
        ("hip", "cuda", True),
        ("cpu", "cuda", False),  # a CUDA torch runs on the CPU too: never downgraded
        ("vulkan", "cpu", False),
        ("cuda", None, False),  # not installed: installed, not reinstalled
    ],
)
def test_torch_is_reinstalled_only_for_a_gpu_it_was_not_built_for(accelerator, torch_build, reinstall):
    assert torch_needs_reinstall(accelerator, torch_build) is reinstall


def fake_torch(site: Path, cuda: str) -> Path:
    (site / "torch").mkdir(parents=True)
    (site / "torch" / "__init__.py").write_text("")
    (site / "torch" / "version.py").write_text(f"cuda: Optional[str] = {cuda}\nhip: Optional[str] = None\n")
    return site


def test_the_torch_build_is_read_from_its_version_file(tmp_path):
    assert installed_torch_build([str(fake_torch(tmp_path / "a", "'12.8'"))]) == "cuda"
    assert installed_torch_build([str(fake_torch(tmp_path / "b", "None"))]) == "cpu"
    assert installed_torch_build([str(tmp_path / "empty")]) is None


def test_the_shell_lines_say_what_to_rebuild_in_the_venv(tmp_path):
    site = tmp_path / "lib" / "python3.12" / "site-packages"
    fake_torch(site, "None")
    (site / "llama_cpp").mkdir()
    (site / "llama_cpp" / "__init__.py").write_text("")
    lines = shell_lines(make_plan(linux(gpu=True, nvcc=NVCC)), tmp_path)
    assert "BUILD_LLAMA_CPP=yes" in lines and "REINSTALL_TORCH=yes" in lines
    assert f"ACCELERATOR_MARKER={tmp_path / MARKER_NAME}" in lines
    (tmp_path / MARKER_NAME).write_text("cpu\n")
    lines = shell_lines(make_plan(linux()), tmp_path)
    assert "BUILD_LLAMA_CPP=no" in lines and "REINSTALL_TORCH=no" in lines


def run_plan(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    # -S: no site-packages, so the module shows it needs nothing but the standard library.
    return subprocess.run(
        [sys.executable, "-S", "-m", "llm_compare.system.accelerator", "plan", *args],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
    )


def test_the_plan_runs_on_the_standard_library_alone_and_evaluates_in_bash():
    done = run_plan({"LLM_COMPARE_ACCELERATOR": "vulkan"})
    assert done.returncode == 0, done.stderr
    assert done.stderr == "llm-compare set-up: accelerator vulkan (set by LLM_COMPARE_ACCELERATOR)\n"
    shown = subprocess.run(
        ["bash", "-c", 'eval "$1"; echo "$ACCELERATOR|$CMAKE_ARGS"', "-", done.stdout],
        capture_output=True,
        text=True,
        check=True,
    )
    assert shown.stdout == "vulkan|-DGGML_VULKAN=on\n"


def test_an_invalid_override_is_one_line_and_a_failure():
    done = run_plan({"LLM_COMPARE_ACCELERATOR": "tpu"})
    assert done.returncode != 0 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and all(name in done.stderr for name in ACCELERATORS)


def test_setup_sh_is_valid_bash():
    subprocess.run(["bash", "-n", str(ROOT / "scripts" / "setup.sh")], check=True)


def fake_checkout(tmp_path: Path, marker: str | None) -> tuple[Path, Path]:
    """setup.sh in a copy of the checkout whose .venv python logs what it is asked to do and runs
    only the planner: the decisions of a re-run, without installing or compiling anything."""
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "setup.sh").write_text((ROOT / "scripts" / "setup.sh").read_text())
    (tmp_path / "llm_compare").symlink_to(ROOT / "llm_compare")
    site = tmp_path / ".venv" / "lib" / "python3.12" / "site-packages"
    fake_torch(site, "None")
    (site / "llama_cpp").mkdir()
    (site / "llama_cpp" / "__init__.py").write_text("")
    if marker:
        (tmp_path / ".venv" / MARKER_NAME).write_text(marker + "\n")
    log = tmp_path / "calls.log"
    python = tmp_path / ".venv" / "bin" / "python"
    python.parent.mkdir()
    python.write_text(
        "#!/bin/bash\n"
        f'echo "$*" >> {log}\n'
        f'if [ "$2" = llm_compare.system.accelerator ]; then exec {sys.executable} -S "$@"; fi\n'
    )
    python.chmod(0o755)
    return tmp_path, log


def run_setup(checkout: Path, **env: str) -> str:
    done = subprocess.run(
        ["bash", str(checkout / "scripts" / "setup.sh")],
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout + done.stderr


def test_a_setup_rerun_on_the_cpu_rebuilds_nothing_and_records_the_accelerator(tmp_path):
    checkout, log = fake_checkout(tmp_path, marker=None)
    output = run_setup(checkout, LLM_COMPARE_ACCELERATOR="cpu")
    assert "llm-compare set-up: accelerator cpu" in output
    pip_calls = [line for line in log.read_text().splitlines() if line.startswith("-m pip")]
    assert not any("--no-binary" in c or "uninstall" in c or "torch==" in c for c in pip_calls)
    assert (checkout / ".venv" / MARKER_NAME).read_text() == "cpu\n"


def test_a_setup_rerun_for_a_new_gpu_replaces_torch_and_rebuilds_llama_cpp_from_source(tmp_path):
    checkout, log = fake_checkout(tmp_path, marker="cpu")
    output = run_setup(checkout, LLM_COMPARE_ACCELERATOR="cuda")
    calls = log.read_text()
    assert "-m pip --disable-pip-version-check -q uninstall -y torch" in calls
    assert "--force-reinstall --no-deps --no-cache-dir --no-binary llama-cpp-python" in calls
    assert "CMAKE_ARGS=-DGGML_CUDA=on" in output
    assert (checkout / ".venv" / MARKER_NAME).read_text() == "cuda\n"
