"""`llm-compare doctor`: what this machine and its backends run on, one line per failed probe."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from llm_compare.cli import main
from llm_compare.services import doctor
from llm_compare.services.doctor import DoctorReport, report_lines
from llm_compare.system import probes

H100_BYTES = 85_520_809_984  # what NVML reports for an H100 80GB HBM3: 79.6 GiB


@pytest.fixture(scope="module")
def doctor_json() -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "llm_compare.cli", "doctor", "--json"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.slow
def test_on_this_cpu_machine_doctor_says_the_llama_cpp_build_cannot_offload_and_there_is_no_gpu(capsys):
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "llama-cpp-python" in out and "CPU-only build (cannot offload to a GPU)" in out
    assert "llama.cpp system info: CPU :" in out
    assert "no GPU" in out.splitlines()[-1]


@pytest.mark.slow
def test_doctor_json_is_one_object_with_every_probe(doctor_json):
    assert set(doctor_json) == {"cpu", "nvidia", "torch", "llama_cpp", "gpu_found"}
    assert doctor_json["gpu_found"] is False and doctor_json["nvidia"] == {"gpus": []}
    assert doctor_json["cpu"]["logical_cores"] >= 1 and doctor_json["cpu"]["ram_bytes"] > 0
    assert doctor_json["torch"]["cuda_available"] is False and doctor_json["torch"]["cuda_devices"] == []
    assert doctor_json["llama_cpp"]["gpu_offload"] is False


def fake_probes(monkeypatch, **scripts: str) -> None:
    """Each probe named runs `python -c SCRIPT` instead; the others answer nothing at once."""
    commands = {name: [sys.executable, "-c", scripts.get(name, "print('{}')")] for name in doctor.PROBE_NAMES}
    monkeypatch.setattr(doctor, "probe_command", commands.__getitem__)


def test_a_probe_that_hangs_is_one_line_and_doctor_still_exits_0(monkeypatch, capsys):
    fake_probes(
        monkeypatch,
        torch="import time; time.sleep(60)",
        llama_cpp="import sys; sys.exit('Segmentation fault')",
        nvidia="print('not json')",
    )
    assert main(["doctor", "--timeout", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "torch: probe timed out after 2 s" in lines
    assert "llama-cpp-python: probe failed (exit 1: Segmentation fault)" in lines
    assert "NVIDIA GPUs (NVML): probe failed (exit 0: no output)" in lines
    assert sum("torch" in line for line in lines) == 1
    assert "CPU: probe answered in a form doctor cannot read" in lines
    assert lines[-1] == "no GPU found: models run on the CPU"


def test_a_failed_probe_is_a_failure_entry_in_json(monkeypatch, capsys):
    fake_probes(monkeypatch, torch="import sys; sys.exit(3)")
    assert main(["doctor", "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["torch"] == {"failure": "probe failed (exit 3: no output)"}
    assert found["gpu_found"] is False


def test_a_backend_that_is_not_installed_is_reported_as_not_importable(monkeypatch, capsys):
    def missing():
        import llm_compare_no_such_backend  # noqa: F401

    monkeypatch.setitem(probes.PROBES, "torch", missing)
    probes.main("torch")
    answer = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert answer == {
        "failure": "not importable (ModuleNotFoundError: No module named 'llm_compare_no_such_backend')"
    }
    assert "torch: not importable (ModuleNotFoundError: No module named 'llm_compare_no_such_backend')" in (
        report_lines(DoctorReport({"torch": answer}))
    )


def test_an_h100_is_shown_with_its_name_and_memory_and_no_gpu_is_not_said():
    report = DoctorReport(
        {
            "cpu": {
                "model": "Intel Xeon Platinum 8480+",
                "physical_cores": 16,
                "logical_cores": 16,
                "ram_bytes": 2**37,
            },
            "nvidia": {
                "gpus": [
                    {
                        "index": 0,
                        "name": "NVIDIA H100 80GB HBM3",
                        "total_bytes": H100_BYTES,
                        "free_bytes": 2**36,
                    }
                ]
            },
            "torch": {
                "version": "2.13.0+cu128",
                "cuda_build": "12.8",
                "cuda_available": True,
                "cuda_devices": [{"name": "NVIDIA H100 80GB HBM3", "total_bytes": H100_BYTES}],
                "mps_available": False,
                "cpu_capability": "AVX512",
            },
            "llama_cpp": {
                "version": "0.3.36",
                "gpu_offload": True,
                "system_info": "CUDA : ARCHS = 900 | CPU : AVX2 = 1",
            },
        }
    )
    lines = report_lines(report)
    assert "NVIDIA GPU 0: NVIDIA H100 80GB HBM3, 79.6 GiB (64.0 GiB free)" in lines
    assert "  torch cuda:0: NVIDIA H100 80GB HBM3, 79.6 GiB" in lines
    assert any(
        line.startswith("torch 2.13.0+cu128 (CUDA 12.8 build)") and "CUDA available" in line for line in lines
    )
    assert "llama-cpp-python 0.3.36: can offload layers to a GPU" in lines
    assert report.gpu_found and not any("no GPU" in line for line in lines)
