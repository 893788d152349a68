"""Start `llm-compare serve` for one model as a child process on a free port, for the dashboard:
then the same model can be compared in-process and behind a server.

The server loads the model in its own worker, so the model's memory is taken a second time;
`ServedProcess.notice` says so, for the page to show."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field

from llm_compare.core.errors import ModelLoadError

log = logging.getLogger(__name__)

# A server that exits is reported at once; one still starting on a busy machine (Python, FastAPI
# and the model scan on 2 loaded cores) is given this long before it counts as failed.
START_TIMEOUT_S = 150.0
STOP_GRACE_S = 5.0
LOOPBACK = "127.0.0.1"


@dataclass
class ServedProcess:
    base_url: str  # what an OpenAI client takes: http://127.0.0.1:PORT/v1
    pid: int
    model_ref: str
    notice: str
    process: subprocess.Popen = field(repr=False)

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        """SIGTERM (the server unloads its workers and exits), SIGKILL if it has not within a few seconds."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_serving(
    model_ref: str,
    port: int | None = None,
    *,
    models_dirs: list[str] | None = None,
    api_key_env: str | None = None,
    timeout_s: float = START_TIMEOUT_S,
) -> ServedProcess:
    """Serve `model_ref` (an id, name or path) on 127.0.0.1:`port` (a free one when None) and
    return once the server answers. Raises ModelLoadError with the server's own last words when
    it exits or does not answer in `timeout_s`."""
    port = port or free_port()
    command = [
        sys.executable,
        "-m",
        "llm_compare.cli",
        "serve",
        "--model",
        model_ref,
        "--host",
        LOOPBACK,
        "--port",
        str(port),
        "--exit-with-parent",
        str(os.getpid()),
    ]  # no server outlives us, even killed with SIGKILL
    for directory in models_dirs or []:
        command += ["--models-dir", directory]
    if api_key_env:
        command += ["--api-key-env", api_key_env]
    base = f"http://{LOOPBACK}:{port}"
    # The server's output is read back only when it fails to start; afterwards it goes nowhere
    # (the child keeps its own copy of the file open, and the file vanishes when both close it).
    with tempfile.TemporaryFile() as log_file:
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT, env=dict(os.environ)
        )
        if not wait_until_healthy(process, f"{base}/healthz", timeout_s):
            ServedProcess(f"{base}/v1", process.pid, model_ref, "", process).stop()
            log_file.seek(0)
            last = [line for line in log_file.read().decode("utf-8", "replace").splitlines() if line.strip()][
                -1:
            ]
            why = last[0].removeprefix("error: ") if last else f"it did not answer within {timeout_s:.0f} s"
            raise ModelLoadError(f"could not serve {model_ref}: {why}")
    notice = (
        f"{model_ref} is loaded a second time, by the server (pid {process.pid}): "
        "it takes its memory again beside the dashboard's own copy"
    )
    log.warning("%s", notice)
    return ServedProcess(f"{base}/v1", process.pid, model_ref, notice, process)


def free_port() -> int:
    """A port nobody listens on now (the kernel's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        return probe.getsockname()[1]


def wait_until_healthy(process: subprocess.Popen, health_url: str, timeout_s: float | None = None) -> bool:
    """Wait for `health_url` to answer 200 (never via a proxy); False when the process exits
    first, or `timeout_s` passes."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    while process.poll() is None and (deadline is None or time.monotonic() < deadline):
        try:
            with opener.open(health_url, timeout=2) as response:
                if response.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.2)
    return False
