"""benchmarks/gpu_check.py on a machine without a GPU: a table of "no GPU" rows, at once, exit 0."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from llm_compare.system import accelerator

ROOT = Path(__file__).resolve().parent.parent


def test_without_a_gpu_gpu_check_prints_no_gpu_rows_and_exits_0_before_building_anything(tmp_path):
    if accelerator.has_nvidia_gpu():
        pytest.skip("this machine has an NVIDIA GPU: gpu_check.py would build and measure on it")
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--work", str(tmp_path / "work")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    rows = [line for line in done.stdout.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert len(rows) == 7
    assert all(line.endswith("| no GPU | no GPU | no GPU |") for line in rows)
    assert not (tmp_path / "work").exists()  # nothing was built
    assert time.monotonic() - started < 20
