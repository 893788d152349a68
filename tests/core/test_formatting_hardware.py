"""The one-line stats summary (CLI `run`, Compare page): the memory split, GPU and energy figures
and the device where measured, nothing where not."""

from llm_compare.core.formatting import stats_line
from llm_compare.core.results import InferenceStats
from tests.support.synthetic_runs import cpu_run_stats, gpu_run_stats

GiB = 2**30


def test_a_measured_run_shows_the_split_gpu_energy_and_device():
    line = stats_line(gpu_run_stats(), "CUDA: NVIDIA H100 80GB HBM3")
    assert "peak RSS 7.4 GiB (2.4 GiB mapped file)" in line
    assert "GPU memory 3.1 GiB" in line
    assert "GPU layers 33/33" in line
    assert "energy 12.5 J (0.379 J/token)" in line
    assert line.endswith("on CUDA: NVIDIA H100 80GB HBM3")


def test_a_cpu_run_without_counters_shows_no_empty_or_zero_figures():
    stats = cpu_run_stats()
    line = stats_line(stats, "CPU, 2 threads, AVX2")
    assert "peak RSS 512.0 MiB ·" in line and "mapped file" not in line
    assert "GPU" not in line and "energy" not in line and "J/token" not in line
    assert line.endswith("· on CPU, 2 threads, AVX2")
    assert "on " not in stats_line(stats)  # no device recorded: no "on –"


def test_gpu_layers_show_when_offload_was_asked_even_if_none_landed():
    stats = InferenceStats(gpu_layers_offloaded=0, gpu_layers_total=33)
    assert "GPU layers 0/33" in stats_line(stats, offload_asked=True)
    assert "GPU layers" not in stats_line(stats)
