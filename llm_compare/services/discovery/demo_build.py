"""The demo build as a background job: one at a time (a lock file in the data directory), its
progress in a small status file there that the dashboard reads, and a tqdm bar in the terminal.

Light on purpose: the dashboard imports this module; the build itself (torch) runs in its own
process, `llm-compare demo`.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Literal

import psutil
from tqdm import tqdm

from llm_compare.core.errors import LLMCompareError, one_line
from llm_compare.system.paths import data_home

STATUS_FILE_NAME = "demo-build.json"
LOCK_FILE_NAME = "demo-build.lock"
DEMO_DIR_NAME = "demo"  # the demo's folder inside a models directory
REPORT_FILE_NAME = "demo-report.json"  # written there after each finished model

BuildState = Literal["building", "done", "failed", "interrupted"]


class DemoBuildRunning(LLMCompareError):
    """Another process is building the demo models."""


@dataclass
class DemoBuildStatus:
    """What the status file holds: the dashboard shows it on the Models page."""

    state: BuildState
    models_dir: str
    stage: str = "starting"
    fraction: float = 0.0
    models_ready: list[str] = field(default_factory=list)  # usable now, smallest first
    models_total: int = 0
    elapsed_s: float = 0.0
    remaining_s: float | None = None  # tqdm's estimate; None until a tenth is done
    error: str | None = None
    # The building process, by pid and start time: a reused pid is not mistaken for it.
    pid: int | None = None
    pid_started: float | None = None


def status_path() -> Path:
    return data_home() / STATUS_FILE_NAME


def read_status() -> DemoBuildStatus | None:
    """The last build's status, or None when there was none. A "building" status whose process
    is gone (killed, machine restarted) reads as "interrupted"."""
    try:
        status = DemoBuildStatus(**json.loads(status_path().read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None
    if status.state == "building" and not _alive(status.pid, status.pid_started):
        status.state = "interrupted"
    return status


def _alive(pid: int | None, started: float | None) -> bool:
    try:
        process = psutil.Process(pid)
        return process.create_time() == started and process.status() != psutil.STATUS_ZOMBIE
    except (psutil.Error, TypeError, ValueError):
        return False


def process_identity(pid: int) -> dict[str, object]:
    return {"pid": pid, "pid_started": psutil.Process(pid).create_time()}


def write_status(status: DemoBuildStatus) -> None:
    """Replace the status file whole, so a reader never sees half of it."""
    path = status_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.write_text(json.dumps(asdict(status)), encoding="utf-8")
    os.replace(partial, path)


# --- one build at a time ------------------------------------------------------------------------


def _lock_path() -> Path:
    return data_home() / LOCK_FILE_NAME


@contextmanager
def build_lock() -> Iterator[None]:
    """Hold the demo-build lock, or raise DemoBuildRunning. The kernel drops it when the process
    dies, so a killed build never blocks the next one."""
    path = _lock_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DemoBuildRunning(
                "the demo models are already being built by another process; "
                "wait for it (the Models page shows its progress) or stop it"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def build_running() -> bool:
    """True while some process holds the demo-build lock (it takes the lock for an instant)."""
    path = _lock_path()
    if not path.exists():
        return False
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


# --- when to build, and starting it ---------------------------------------------------------------


def demo_needed(models_dir: str | Path) -> bool:
    """True when `models_dir` holds no model at all, or an unfinished demo (an interrupted build)."""
    from llm_compare.services.discovery.model_manager import ModelManager

    report = Path(models_dir) / DEMO_DIR_NAME / REPORT_FILE_NAME
    if report.exists():
        try:
            # Earlier versions wrote the report once, at the end: without "complete" it is whole.
            return not json.loads(report.read_text(encoding="utf-8")).get("complete", True)
        except ValueError:
            return True
    if (Path(models_dir) / DEMO_DIR_NAME).is_dir():
        return True
    return not Path(models_dir).is_dir() or not ModelManager([models_dir]).scan()


def start_background_build(models_dir: str | Path) -> subprocess.Popen | None:
    """Start `llm-compare demo --dir models_dir` as a child process, unless one is running."""
    if build_running():
        return None
    command = [sys.executable, "-m", "llm_compare.cli", "demo", "--dir", str(models_dir)]
    child = subprocess.Popen(command, stdin=subprocess.DEVNULL)
    # The page shows the build at once, before the child has imported torch.
    write_status(DemoBuildStatus("building", str(models_dir), **process_identity(child.pid)))
    return child


# --- progress, in the terminal and in the status file ---------------------------------------------


class BuildProgress:
    """Receives build_demo's callbacks: a tqdm bar in the terminal, and the same figures (stage,
    fraction, tqdm's elapsed time and estimate) in the status file, at most twice a second.
    As a context manager, it records how the build ended: done, failed or interrupted."""

    _WRITE_EVERY_S = 0.5

    def __init__(self, models_dir: str | Path, stream: IO[str] | None = None) -> None:
        self.status = DemoBuildStatus("building", str(models_dir), **process_identity(os.getpid()))
        self._stream = stream or sys.stderr
        self._bar = tqdm(
            total=1000,
            file=self._stream,
            bar_format="{desc}: {percentage:3.0f}%|{bar}| [{elapsed}<{remaining}]",
        )
        self._written = 0.0
        self._write()

    def __enter__(self) -> BuildProgress:
        return self

    def __exit__(self, kind, error, traceback) -> None:
        if kind is None:
            self._finish("done")
        elif issubclass(kind, KeyboardInterrupt):
            self._finish("interrupted")
        else:
            self._finish("failed", one_line(error))

    def expect_models(self, count: int) -> None:
        self.status.models_total = count

    def progress(self, stage: str, fraction: float) -> None:
        self._bar.set_description_str(stage, refresh=False)
        self._bar.update(round(fraction * 1000) - self._bar.n)
        changed = stage != self.status.stage
        self._update(stage, fraction)
        if changed or time.monotonic() - self._written >= self._WRITE_EVERY_S:
            self._write()

    def model_ready(self, name: str) -> None:
        self.status.models_ready.append(name)
        self._bar.write(f"{name} is ready: it is on the dashboard's Models page now", file=self._stream)
        self._write()

    def _finish(self, state: BuildState, error: str | None = None) -> None:
        self._update(state, self.status.fraction)
        self.status.state, self.status.error = state, error
        self._bar.close()
        self._write()

    def _update(self, stage: str, fraction: float) -> None:
        figures = self._bar.format_dict
        rate = figures["rate"] or (figures["n"] / figures["elapsed"] if figures["elapsed"] else None)
        self.status.stage, self.status.fraction = stage, fraction
        self.status.elapsed_s = round(figures["elapsed"], 1)
        # Before a tenth is done the rate is mostly start-up (imports, tokenizer): no estimate yet.
        trusted = rate and fraction >= 0.1
        self.status.remaining_s = round((figures["total"] - figures["n"]) / rate, 1) if trusted else None

    def _write(self) -> None:
        write_status(self.status)
        self._written = time.monotonic()
