"""What a model's worker measures about itself besides the timings: the split of its peak memory,
its peak GPU memory and the energy its device used during each run (docs/metrics.md). Runs in
the worker, over the worker's whole life, like peak_rss_bytes."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

from llm_compare.core.results import InferenceStats
from llm_compare.inferencers.base import Inferencer
from llm_compare.system import gpus
from llm_compare.system.energy import POWERCAP, NvmlCounter, RaplCounter
from llm_compare.system.memory_use import IDLE_INTERVAL_S, PeakMemorySampler


def loaded_torch_cuda():
    """torch.cuda when this process has imported torch and started CUDA with it, else None.
    Never imports torch: a llama.cpp worker has no business with it."""
    cuda = getattr(sys.modules.get("torch"), "cuda", None)
    return cuda if cuda is not None and cuda.is_initialized() else None


class WorkerFigures:
    """Started before the model loads; told when it is loaded and when each run starts and ends.
    For a model behind an HTTP endpoint (`local=False`) it measures nothing: the model's memory
    and energy are the server's."""

    def __init__(
        self,
        local: bool = True,
        sampler: PeakMemorySampler | None = None,
        process_gpu_bytes: Callable[[int, int], int | None] = gpus.process_gpu_bytes,
        energy_mj: Callable[[int], int | None] = gpus.energy_mj,
        powercap: Path = POWERCAP,
        torch_cuda: Callable[[], object | None] = loaded_torch_cuda,
    ):
        self.local = local
        self.sampler = (sampler or PeakMemorySampler()).start() if local else None
        self._process_gpu_bytes, self._energy_mj = process_gpu_bytes, energy_mj
        self._powercap, self._torch_cuda = powercap, torch_cuda
        self.cuda_index: int | None = None
        self.peak_vram_bytes: int | None = None
        self._energy: NvmlCounter | RaplCounter | None = None
        self._energy_start: object = None

    def model_loaded(self, inferencer: Inferencer) -> None:
        """After load and warm-up: learn where the model is, and sample memory less often."""
        if not self.local:
            return
        # placement() comes with the backends' Placement; before it, a model is on no NVIDIA GPU.
        self.sampler.interval_s = IDLE_INTERVAL_S
        try:
            placement = getattr(inferencer, "placement", lambda: None)()
            self.cuda_index = getattr(placement, "cuda_index", None)
            if self.cuda_index is not None:
                self._energy = NvmlCounter(self.cuda_index, self._energy_mj)
            else:
                self._energy = RaplCounter(self._powercap)
            self._sample_vram()
        except Exception:  # as in run_ended: no figure is worth the worker
            pass

    def run_started(self) -> None:
        if self._energy is not None:
            self._energy_start = self._energy.read()

    def run_ended(self, stats: InferenceStats) -> None:
        """Add this worker's figures to the stats of the run that just ended. A figure that cannot
        be measured stays empty: it never costs the run its answer."""
        if not self.local:
            return
        try:
            self._add_figures(stats)
        except Exception:  # a driver or library failing to report (a CUDA error, say)
            pass

    def _add_figures(self, stats: InferenceStats) -> None:
        if self._energy is not None:
            stats.energy_j = self._energy.joules_between(self._energy_start, self._energy.read())
            self._energy_start = None
        if stats.energy_j is not None and stats.completion_tokens:
            stats.j_per_token = stats.energy_j / stats.completion_tokens
        self.sampler.sample()
        peak = self.sampler.peak
        if peak is not None:
            stats.peak_private_bytes, stats.peak_file_bytes = peak.private_bytes, peak.file_bytes
        self._sample_vram()
        stats.peak_vram_bytes = self.peak_vram_bytes

    def _sample_vram(self) -> None:
        now = self._vram_bytes()
        if now is not None and (self.peak_vram_bytes is None or now > self.peak_vram_bytes):
            self.peak_vram_bytes = now

    def _vram_bytes(self) -> int | None:
        """This process's GPU memory at its peak so far, as far as one reading now tells.
        llama.cpp: what NVML reports for the process now (its buffers are made at load, so
        readings after load and after each run find the peak). PyTorch: its caching allocator's
        peak, plus what NVML counts beyond the allocator now (the CUDA context, libraries'
        workspaces). None without a per-process reading: never a device-wide total."""
        if self.cuda_index is None:  # a CPU run, or Metal, whose unified memory is already RSS
            return None
        process_bytes = self._process_gpu_bytes(os.getpid(), self.cuda_index)
        if not process_bytes:
            return None
        cuda = self._torch_cuda()
        if cuda is None:
            return process_bytes
        # Summed over torch's devices, which spares mapping NVML's index to torch's (they differ
        # under CUDA_VISIBLE_DEVICES): a model on one GPU reserves nothing on the others.
        devices = range(cuda.device_count())
        reserved_now = sum(cuda.memory_reserved(device) for device in devices)
        reserved_peak = sum(cuda.max_memory_reserved(device) for device in devices)
        return reserved_peak + max(0, process_bytes - reserved_now)
