"""The endpoints' health file is shared by every llm-compare process (the dashboard, the CLI,
`serve`'s threads): concurrent updates are never lost, and readers always find valid JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from llm_compare.services.endpoints.health import FAILURES_TO_OPEN, HealthBook

SHARED_URL = "http://127.0.0.1:9/v1"
PROCESSES, THREADS, UPDATES_PER_THREAD = 4, 2, 25

UPDATER = """
import sys, threading, time
from pathlib import Path
from llm_compare.services.endpoints.health import HealthBook

home, own_url, go, per_thread = sys.argv[1], sys.argv[2], Path(sys.argv[3]), int(sys.argv[4])
while not go.exists():
    time.sleep(0.001)

def update():
    book = HealthBook(home)
    for _ in range(per_thread):
        book.record_run({shared!r}, "boom")
        book.record_run(own_url, "boom")

threads = [threading.Thread(target=update) for _ in range({threads})]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
"""


def test_concurrent_updates_from_processes_and_threads_are_all_kept(tmp_path):
    home, go = tmp_path / "home", tmp_path / "go"
    script = UPDATER.format(shared=SHARED_URL, threads=THREADS)
    own_urls = [f"http://127.0.0.1:{9000 + i}/v1" for i in range(PROCESSES)]
    updaters = [
        subprocess.Popen([sys.executable, "-c", script, str(home), url, str(go), str(UPDATES_PER_THREAD)])
        for url in own_urls
    ]
    go.touch()
    health_file = HealthBook(home).path
    reads, torn = 0, []
    while any(p.poll() is None for p in updaters):  # meanwhile, every read finds a whole file
        try:
            text = health_file.read_text(encoding="utf-8")
        except FileNotFoundError:
            continue
        reads += 1
        try:
            json.loads(text)
        except ValueError:
            torn.append(text)
        time.sleep(0.0005)
    assert [p.wait(60) for p in updaters] == [0] * PROCESSES
    assert not torn, f"{len(torn)} of {reads} reads found a torn file, e.g. {torn[0]!r}"
    book = HealthBook(home)
    each = THREADS * UPDATES_PER_THREAD
    assert book.get(SHARED_URL).consecutive_failures == PROCESSES * each
    assert [book.get(url).consecutive_failures for url in own_urls] == [each] * PROCESSES
    assert book.get(SHARED_URL).healthy is False and each >= FAILURES_TO_OPEN
    assert not [name for name in os.listdir(health_file.parent) if name.endswith(".tmp")], (
        "no temporary file is left"
    )
