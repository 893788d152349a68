"""Child processes that never outlive their parent: a server started by the dashboard stops when
the dashboard is gone (even after SIGKILL or the OOM killer), and the dashboard's own children are
stopped together, within a service manager's patience."""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable

POLL_S = 1.0
# On SIGTERM every process of ours is gone within 5 s: service managers send SIGKILL soon after.
STOP_GRACE_S = 3.0
PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def exit_when_parent_dies(parent_pid: int, poll_s: float = POLL_S) -> None:
    """Watch, in a daemon thread, for this process's parent to stop being `parent_pid`: a dead
    parent's children are handed to init (or a subreaper). Then SIGTERM ourselves, so that uvicorn
    shuts down the orderly way and its lifespan unloads the model workers.

    Not prctl's PR_SET_PDEATHSIG: it fires when the *thread* that started us exits, and Streamlit
    runs each page script on a short-lived thread."""

    def watch() -> None:
        while os.getppid() == parent_pid:  # already another one: the parent died before we started
            time.sleep(poll_s)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def die_with_parent(parent_pid: int) -> Callable[[], None] | None:
    """A preexec_fn for a child that must not outlive this process, however this process ends
    (a service manager's SIGKILL too): on Linux the kernel then sends the child SIGTERM."""
    if not sys.platform.startswith("linux"):
        return None

    def arrange() -> None:  # runs in the child, between fork and exec
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent_pid:  # the parent died before the request was in place
            os._exit(1)

    return arrange


def stop_all(processes: list[subprocess.Popen | None]) -> None:
    """Stop the processes together: SIGTERM to all, then SIGKILL to any still running after
    STOP_GRACE_S (one after another, the waits would add up past a service manager's patience)."""
    running = [p for p in processes if p is not None and p.poll() is None]
    for process in running:
        process.terminate()
    deadline = time.monotonic() + STOP_GRACE_S
    for process in running:
        try:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
