"""What a worker measures about itself for each run: its peak memory's split, its peak GPU memory
and its device's energy. GPUs and RAPL are simulated here (fake NVML readings, a fake torch.cuda,
a powercap tree in tmp_path); the memory split is checked against real workers from outside."""

import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from llm_compare.core.config import ModelConfig
from llm_compare.core.results import InferenceStats
from llm_compare.inferencers.placement import Placement
from llm_compare.services.engine.engine import InferenceEngine
from llm_compare.services.engine.worker_figures import WorkerFigures
from llm_compare.system.memory_use import MemoryReading, PeakMemorySampler

GIB = 1024**3


class FakeTorchCuda:
    """torch.cuda's caching-allocator counters, per device."""

    def __init__(self, reserved: dict[int, int], max_reserved: dict[int, int]):
        self.reserved, self.max_reserved = reserved, max_reserved

    def device_count(self) -> int:
        return len(self.reserved)

    def memory_reserved(self, device: int) -> int:
        return self.reserved[device]

    def max_memory_reserved(self, device: int) -> int:
        return self.max_reserved[device]


def inferencer_on(placement: Placement | None):
    return SimpleNamespace(placement=lambda: placement)


def figures(tmp_path: Path, **fakes) -> WorkerFigures:
    fakes.setdefault("process_gpu_bytes", lambda pid, index: pytest.fail("NVML asked on a CPU run"))
    fakes.setdefault("energy_mj", lambda index: pytest.fail("NVML asked on a CPU run"))
    fakes.setdefault("torch_cuda", lambda: None)
    readings = iter([MemoryReading(300, 100, 200), MemoryReading(250, 200, 50)])
    sampler = PeakMemorySampler(read=lambda: next(readings, MemoryReading(10, 5, 5)), interval_s=3600)
    return WorkerFigures(sampler=sampler, powercap=tmp_path / "powercap", **fakes)


def run(worker_figures: WorkerFigures, completion_tokens: int | None = 10) -> InferenceStats:
    stats = InferenceStats(completion_tokens=completion_tokens)
    worker_figures.run_started()
    worker_figures.run_ended(stats)
    return stats


def rapl_package(root: Path, energy_uj: int) -> Path:
    zone = root / "powercap" / "intel-rapl:0"
    zone.mkdir(parents=True, exist_ok=True)
    (zone / "name").write_text("package-0\n")
    (zone / "max_energy_range_uj").write_text("262143328850\n")
    (zone / "energy_uj").write_text(f"{energy_uj}\n")
    return zone


def test_a_cpu_run_has_the_memory_split_at_the_peak_no_gpu_memory_and_rapl_energy(tmp_path):
    zone = rapl_package(tmp_path, 5_000_000)
    worker = figures(tmp_path)
    worker.model_loaded(inferencer_on(Placement("CPU, 2 threads, AVX2")))
    stats = InferenceStats(completion_tokens=4)
    worker.run_started()
    (zone / "energy_uj").write_text("7000000\n")
    worker.run_ended(stats)
    worker.sampler.stop()
    assert (stats.peak_private_bytes, stats.peak_file_bytes) == (100, 200)
    assert stats.peak_vram_bytes is None
    assert (stats.energy_j, stats.j_per_token) == (pytest.approx(2.0), pytest.approx(0.5))


def test_a_backend_without_placement_is_a_cpu_run_and_unreadable_rapl_gives_no_energy(tmp_path):
    worker = figures(tmp_path)
    worker.model_loaded(SimpleNamespace())  # before the backends report where they run
    stats = run(worker)
    worker.sampler.stop()
    assert (stats.peak_vram_bytes, stats.energy_j, stats.j_per_token) == (None, None, None)


def test_metal_counts_no_gpu_memory_apart_from_the_rss(tmp_path):
    worker = figures(tmp_path)
    worker.model_loaded(inferencer_on(Placement("Metal: Apple M3", 33, 33)))
    stats = run(worker)
    worker.sampler.stop()
    assert stats.peak_vram_bytes is None and stats.peak_file_bytes == 200


def test_llama_cpp_on_cuda_keeps_the_largest_process_reading_and_the_gpus_energy(tmp_path):
    vram = iter([3 * GIB, 2 * GIB])  # after loading, after the run
    energy = iter([1_000_000, 1_600_000])
    asked = []

    def process_gpu_bytes(pid, index):
        asked.append(index)
        return next(vram)

    worker = figures(tmp_path, process_gpu_bytes=process_gpu_bytes, energy_mj=lambda index: next(energy))
    worker.model_loaded(inferencer_on(Placement("CUDA: NVIDIA H100 80GB HBM3", 33, 33, cuda_index=1)))
    stats = run(worker, completion_tokens=300)
    worker.sampler.stop()
    assert asked == [1, 1]
    assert stats.peak_vram_bytes == 3 * GIB
    assert (stats.energy_j, stats.j_per_token) == (pytest.approx(600.0), pytest.approx(2.0))


def test_pytorch_on_cuda_adds_its_allocators_peak_and_the_context_nvml_counts_beyond_it(tmp_path):
    cuda = FakeTorchCuda(reserved={0: 4 * GIB, 1: 0}, max_reserved={0: 5 * GIB, 1: 0})
    worker = figures(
        tmp_path,
        process_gpu_bytes=lambda pid, index: 4 * GIB + 500 * 1024**2,  # reserved now + a 500 MiB context
        energy_mj=lambda index: 7,
        torch_cuda=lambda: cuda,
    )
    worker.model_loaded(inferencer_on(Placement("CUDA: NVIDIA H100 80GB HBM3", 16, 16, cuda_index=0)))
    stats = run(worker)
    worker.sampler.stop()
    assert stats.peak_vram_bytes == 5 * GIB + 500 * 1024**2
    assert stats.energy_j is None  # a counter that did not move during the run measured nothing


@pytest.mark.parametrize("nvml_reading", [None, 0])
@pytest.mark.parametrize("torch_cuda", [None, FakeTorchCuda({0: GIB}, {0: 2 * GIB})])
def test_no_per_process_reading_from_nvml_gives_no_gpu_memory(tmp_path, nvml_reading, torch_cuda):
    worker = figures(
        tmp_path,
        process_gpu_bytes=lambda pid, index: nvml_reading,
        energy_mj=lambda index: None,
        torch_cuda=lambda: torch_cuda,
    )
    worker.model_loaded(inferencer_on(Placement("CUDA: NVIDIA H100 80GB HBM3", 16, 16, cuda_index=0)))
    stats = run(worker)
    worker.sampler.stop()
    assert (stats.peak_vram_bytes, stats.energy_j, stats.j_per_token) == (None, None, None)


def test_a_run_without_tokens_has_energy_but_no_energy_per_token(tmp_path):
    energy = iter([0, 1500])
    worker = figures(tmp_path, process_gpu_bytes=lambda pid, index: GIB, energy_mj=lambda index: next(energy))
    worker.model_loaded(inferencer_on(Placement("CUDA: NVIDIA H100 80GB HBM3", 33, 33, cuda_index=0)))
    stats = run(worker, completion_tokens=0)
    worker.sampler.stop()
    assert (stats.energy_j, stats.j_per_token) == (pytest.approx(1.5), None)


def test_an_endpoint_model_measures_nothing(tmp_path):
    worker = WorkerFigures(local=False, process_gpu_bytes=None, energy_mj=None)
    worker.model_loaded(inferencer_on(Placement("CUDA: NVIDIA H100 80GB HBM3", cuda_index=0)))
    stats = run(worker)
    assert worker.sampler is None
    assert stats == InferenceStats(completion_tokens=10)


# --- real workers, seen from outside ------------------------------------------------------------

MIB = 1024**2
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc is Linux's")


@pytest.fixture
def engine():
    engine = InferenceEngine()
    yield engine
    engine.shutdown()


def run_once(engine: InferenceEngine, model, **config) -> tuple[InferenceStats, int]:
    """One short greedy run; its stats and the worker's pid (the worker stays alive, warm)."""
    config = ModelConfig(temperature=0.0, mode="raw", max_tokens=8, n_ctx=256, **config)
    [result] = [e.result for e in engine.run("import os\n", [model], {model.id: config}) if e.kind == "done"]
    assert result.error is None
    return result.stats, engine._workers[model.id].process.pid


def status_bytes(pid: int) -> dict[str, int]:
    """The worker's /proc/PID/status memory lines, in bytes, read by this (the test's) process."""
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        lines = [line.split() for line in status if line.startswith(("Vm", "Rss"))]
    return {fields[0].rstrip(":"): int(fields[1]) * 1024 for fields in lines}


def mapped_bytes(pid: int, path: Path) -> int:
    """Resident bytes of the worker's mappings of `path`, from /proc/PID/smaps."""
    total, mapping = 0, None
    with open(f"/proc/{pid}/smaps", encoding="utf-8", errors="replace") as smaps:
        for line in smaps:
            fields = line.split()
            if "-" in fields[0] and not fields[0].endswith(":"):  # a mapping's header line
                mapping = fields[5] if len(fields) > 5 else None
            elif fields[0] == "Rss:" and mapping == str(path):
                total += int(fields[1]) * 1024
    return total


@linux_only
@pytest.mark.slow
def test_a_gguf_workers_peak_holds_its_mapped_weights_as_file_memory(engine, slow_prefill_models):
    model = slow_prefill_models["gguf_f32"]
    stats, pid = run_once(engine, model)
    now, weights = status_bytes(pid), mapped_bytes(pid, Path(model.path).resolve())
    assert weights >= 0.9 * Path(model.path).stat().st_size  # llama.cpp mapped and read every weight
    assert stats.peak_file_bytes >= max(weights, now["RssFile"] - 2 * MIB)
    assert stats.peak_file_bytes <= now["RssFile"] + 2 * MIB  # no file part beyond what is mapped now
    assert stats.peak_rss_bytes <= now["VmHWM"]
    split = stats.peak_private_bytes + stats.peak_file_bytes
    # The kernel batches each thread's RSS counters: two readings may differ by a few pages.
    assert 0.9 * stats.peak_rss_bytes <= split <= stats.peak_rss_bytes + MIB


@linux_only
@pytest.mark.slow
def test_a_pytorch_checkpoint_converted_while_loading_is_not_held_mapped_at_the_peak(
    engine, slow_prefill_models
):
    # float32 on disk, run in bfloat16: converted while loading, read tensor by tensor (pread), so
    # at the peak no mapped copy of the checkpoint sits beside the converted weights
    # (inferencers/pytorch.py, read_checkpoint_without_mapping; docs/performance.md has the 1 B case).
    model = slow_prefill_models["hf"]
    checkpoint = (Path(model.path) / "model.safetensors").resolve()
    for _attempt in range(2):
        # A fresh worker each time: on a loaded machine the sampler can miss the peak
        # (docs/metrics.md) when the loading code holds the GIL; the split then falls short of it.
        engine.unload(model.id)
        stats, pid = run_once(engine, model, dtype="bfloat16")
        now = status_bytes(pid)
        split = stats.peak_private_bytes + stats.peak_file_bytes
        if split >= 0.9 * stats.peak_rss_bytes:
            break
    else:
        pytest.fail(f"the split ({split} bytes) missed the peak ({stats.peak_rss_bytes} bytes) twice")
    assert split <= stats.peak_rss_bytes + MIB and stats.peak_rss_bytes <= now["VmHWM"]
    assert mapped_bytes(pid, checkpoint) == 0  # the checkpoint is not mapped now
    assert stats.peak_file_bytes - now["RssFile"] < 0.25 * checkpoint.stat().st_size  # nor was it at the peak
    assert stats.peak_vram_bytes is None  # a CPU run


def test_a_failing_gpu_reading_leaves_its_figure_empty_and_the_run_whole(tmp_path):
    def broken(pid, index):
        raise RuntimeError("CUDA error: unspecified launch failure")

    worker = figures(tmp_path, process_gpu_bytes=broken, energy_mj=lambda index: None)
    worker.cuda_index = 0  # as if loaded on a GPU whose readings then failed
    stats = run(worker)
    worker.sampler.stop()
    assert stats.peak_vram_bytes is None and stats.completion_tokens == 10
