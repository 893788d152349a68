"""Hold the run store's database locked from another process, the way a long write by another
program (a dashboard, a CLI loop, a backup) would, for tests of what a save does then."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_LOCKER = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.read()  # until the test closes our stdin
db.execute("ROLLBACK")
"""


@contextmanager
def database_locked(db_path: Path) -> Iterator[None]:
    """While inside, another process holds `db_path` under BEGIN EXCLUSIVE (no other writer)."""
    locker = subprocess.Popen(
        [sys.executable, "-c", _LOCKER, str(db_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        if locker.stdout.readline().strip() != "locked":
            raise RuntimeError(f"the locking process could not lock {db_path}")
        yield
    finally:
        locker.stdin.close()
        locker.wait(timeout=30)
