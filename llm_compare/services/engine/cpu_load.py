"""How much other work shared the machine during a run (docs/metrics.md: `other_cpu_share`, `busy`).

On two cores, one other busy process slows a 2-thread model tenfold (its thread pool spins
waiting for a thread that is not scheduled), so a run's timings mean something only together
with this figure."""

from __future__ import annotations

import os
from dataclasses import dataclass
from time import perf_counter

import psutil

from llm_compare.core.results import BUSY_CPU_SHARE


@dataclass(frozen=True)
class CpuSample:
    wall_s: float
    machine_busy_s: float  # CPU seconds every process has used, all cores together
    ours_s: float  # CPU seconds of the model's worker and of this (driving) process


def sample(worker: psutil.Process) -> CpuSample | None:
    """Counters now; None when the worker is gone (its CPU time can no longer be read). Taken
    before each request reaches the worker, so kept cheap: the worker's handle is made once, and
    this process's own times come from a syscall, not from /proc."""
    try:
        worker_times = worker.cpu_times()
    except psutil.Error:
        return None
    own = os.times()
    ours = worker_times.user + worker_times.system + own.user + own.system
    return CpuSample(perf_counter(), _machine_busy_s(), ours)


def other_cpu_share(start: CpuSample | None, end: CpuSample | None) -> float | None:
    """CPU used by other processes between the samples / (wall time × logical cores)."""
    if start is None or end is None or end.wall_s <= start.wall_s:
        return None
    others = (end.machine_busy_s - start.machine_busy_s) - (end.ours_s - start.ours_s)
    share = others / ((end.wall_s - start.wall_s) * (psutil.cpu_count() or 1))
    return min(1.0, max(0.0, share))  # the kernel's counters tick at 10 ms: clamp the rounding


def is_busy(share: float | None) -> bool | None:
    return None if share is None else share > BUSY_CPU_SHARE


def _machine_busy_s() -> float:
    times = psutil.cpu_times()
    # guest time is already counted in user time on Linux; idle and iowait are not work.
    return sum(getattr(times, name, 0.0) for name in ("user", "nice", "system", "irq", "softirq", "steal"))
