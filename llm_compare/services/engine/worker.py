"""The parent's handle on one model's worker process."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from multiprocessing.connection import Connection
from time import perf_counter

import psutil

from llm_compare.core.config import ModelConfig
from llm_compare.core.models import ModelInfo
from llm_compare.inferencers.generation import REPORTS_OWN_PEAK_RSS
from llm_compare.services.engine.memory import process_rss_bytes
from llm_compare.services.engine.messages import Evaluate, Generate, Init, Loaded, Stop
from llm_compare.services.engine.shared_flag import SharedFlag

# `python -m` a module of ours, not multiprocessing's spawn: spawn re-runs the parent's __main__
# in every worker, which fails for a script read from stdin and re-runs a script without a
# main guard. The worker imports llm_compare and nothing of its parent.
WORKER_MODULE = "llm_compare.services.engine.worker_main"


class Worker:
    """One loaded (or loading) model in its own process."""

    def __init__(
        self,
        model: ModelInfo,
        config: ModelConfig,
        estimate_bytes: int = 0,
        gpu_estimate_bytes: dict[int, int] | None = None,
    ):
        self.model = model
        self.load_key = config.load_key()
        self.estimate_bytes = estimate_bytes  # counted until the worker is ready and its RSS is real
        # GPU index -> bytes its model will hold there: reserved while it loads, and tells which
        # workers to unload to make room on a GPU.
        self.gpu_estimate_bytes = dict(gpu_estimate_bytes or {})
        parent_end, child_end = socket.socketpair()
        self.cancel_flag = SharedFlag()
        self.t_spawn = perf_counter()
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", WORKER_MODULE, str(child_end.fileno()), str(self.cancel_flag.fd)],
                pass_fds=(child_end.fileno(), self.cancel_flag.fd),
                stdin=subprocess.DEVNULL,
            )
        except OSError:
            parent_end.close()
            self.cancel_flag.close()
            raise
        finally:
            child_end.close()
        self.handle = psutil.Process(self.process.pid)  # made once: each psutil.Process reads /proc
        self.conn = Connection(parent_end.detach())
        self.conn.send(Init(model.to_dict(), config.model_dump()))
        self.ready = False
        self.load_s = 0.0
        self.runs = 0
        self.last_used = perf_counter()
        self.versions: dict[str, str] = {}
        self.ignored: dict[str, str] = {}
        self.runtime: dict[str, str] = {}
        self.peak_rss_sampled = 0  # the fallback where the worker cannot report its own peak

    @property
    def pid(self) -> int:
        return self.process.pid

    def mark_loaded(self, loaded: Loaded) -> None:
        # Spawn to ready, on the shared monotonic clock: what the user waited for.
        self.load_s = loaded.t_ready - self.t_spawn
        self.ready = True
        self.versions, self.ignored, self.runtime = loaded.versions, loaded.ignored, loaded.runtime

    def send_generate(
        self, prompt: str | list[dict], system_prompt: str | None, config: ModelConfig, threads: int
    ) -> None:
        # The cancel flag is cleared by the engine before a run starts, never here: a Stop that
        # arrives between the two must not be lost.
        warm = self.runs > 0
        load_s = 0.0 if warm else self.load_s
        self.conn.send(Generate(prompt, system_prompt, config.model_dump(), threads, load_s, warm))
        self.runs += 1
        self.last_used = perf_counter()

    def send_evaluate(self, request: dict, threads: int) -> None:
        self.conn.send(Evaluate(request, threads))
        # Counted as a use: the next generation on this worker reports it warm, not its load time.
        self.runs += 1
        self.last_used = perf_counter()

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def rss_bytes(self) -> int:
        return process_rss_bytes(self.process.pid) if self.alive else 0

    def memory_bytes(self) -> int:
        """What the memory budget counts: the RSS, but a loading worker at least at its estimate."""
        rss = self.rss_bytes()
        return rss if self.ready else max(rss, self.estimate_bytes)

    def sample_rss(self) -> None:
        """Only where the worker cannot report its own peak: each reading costs the parent CPU,
        which on a two-core machine is taken from the generation it measures."""
        if not REPORTS_OWN_PEAK_RSS:
            self.peak_rss_sampled = max(self.peak_rss_sampled, self.rss_bytes())

    def exit_reason(self) -> str:
        try:
            code = self.process.wait(timeout=1)
        except subprocess.TimeoutExpired:
            code = None
        if code is not None and code < 0:
            name = signal.Signals(-code).name
            hint = " (out of memory?)" if -code == signal.SIGKILL else ""
            return f"the worker process for {self.model.name} was killed by {name}{hint}"
        return f"the worker process for {self.model.name} exited unexpectedly (exit code {code})"

    def stop(self, timeout_s: float = 2.0) -> None:
        """Ask the worker to exit; kill it if it does not within `timeout_s`."""
        if self.alive:
            try:
                self.conn.send(Stop())
                self.process.wait(timeout_s)
            except (OSError, subprocess.TimeoutExpired):
                pass
        self.kill()

    def kill(self) -> None:
        if self.alive:
            self.process.kill()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            pass
        self.conn.close()
        self.cancel_flag.close()
