"""The parent's handle on one model's worker process."""

from __future__ import annotations

import multiprocessing
import signal
from time import perf_counter

from llm_compare.core.config import ModelConfig
from llm_compare.core.models import ModelInfo
from llm_compare.services.memory import process_rss_bytes
from llm_compare.services.worker_main import serve

# spawn, not fork: a fresh interpreter that inherits no threads, locks or UI state.
_CONTEXT = multiprocessing.get_context("spawn")


class Worker:
    """One loaded (or loading) model in its own process."""

    def __init__(self, model: ModelInfo, config: ModelConfig):
        self.model = model
        self.load_key = config.load_key()
        self.conn, child_conn = _CONTEXT.Pipe()
        self.cancel_event = _CONTEXT.Event()
        self.process = _CONTEXT.Process(
            target=serve,
            args=(child_conn, model.to_dict(), config.model_dump(), self.cancel_event),
            name=f"llm-compare worker {model.name}",
            daemon=True,  # never outlives the dashboard or CLI
        )
        self.t_spawn = perf_counter()
        self.process.start()
        child_conn.close()
        self.ready = False
        self.load_s = 0.0
        self.runs = 0
        self.last_used = perf_counter()
        self.versions: dict[str, str] = {}
        self.ignored: dict[str, str] = {}

    def mark_loaded(self, t_ready: float, versions: dict[str, str], ignored: dict[str, str]) -> None:
        # Spawn to ready, on the shared monotonic clock: what the user waited for.
        self.load_s = t_ready - self.t_spawn
        self.ready = True
        self.versions, self.ignored = versions, ignored

    def send_generate(self, prompt: str, system_prompt: str | None, config: ModelConfig, threads: int) -> None:
        warm = self.runs > 0
        self.cancel_event.clear()
        load_s = 0.0 if warm else self.load_s
        self.conn.send(("generate", prompt, system_prompt, config.model_dump(), threads, load_s, warm))
        self.runs += 1
        self.last_used = perf_counter()

    @property
    def alive(self) -> bool:
        return self.process.is_alive()

    def rss_bytes(self) -> int:
        return process_rss_bytes(self.process.pid) if self.alive else 0

    def exit_reason(self) -> str:
        self.process.join(timeout=1)
        code = self.process.exitcode
        if code is not None and code < 0:
            name = signal.Signals(-code).name
            hint = " (out of memory?)" if -code == signal.SIGKILL else ""
            return f"the worker process for {self.model.name} was killed by {name}{hint}"
        return f"the worker process for {self.model.name} exited unexpectedly (exit code {code})"

    def stop(self, timeout_s: float = 2.0) -> None:
        """Ask the worker to exit; kill it if it does not within `timeout_s`."""
        if self.alive:
            try:
                self.conn.send(("stop",))
            except OSError:
                pass
            self.process.join(timeout_s)
        self.kill()

    def kill(self) -> None:
        if self.alive:
            self.process.kill()
            self.process.join(5)
        self.conn.close()
