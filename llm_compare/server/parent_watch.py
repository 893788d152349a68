"""Stop a server started by another process (the dashboard) when that process is gone, even when
it was killed with SIGKILL or by the OOM killer and ran no clean-up of its own."""

from __future__ import annotations

import os
import signal
import threading
import time

POLL_S = 1.0


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
