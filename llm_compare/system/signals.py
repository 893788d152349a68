"""Ctrl-C and SIGTERM in the command line's long commands: stop the work, keep what was done."""

from __future__ import annotations

import signal
from collections.abc import Callable


def stop_on_interrupt(stop: Callable[[], None]) -> list[int]:
    """From now on Ctrl-C or SIGTERM (what `timeout` and service managers send) calls `stop`, which
    stops the workers and keeps partial work; a second Ctrl-C interrupts at once. Returns the list
    the signals received are added to, so the caller can exit with the interrupted code."""
    received: list[int] = []

    def on_signal(signum, frame) -> None:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        received.append(signum)
        stop()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    return received
