"""The demo build's bookkeeping: one build at a time, and a status file that tells the truth about
whether a build is still running."""

import os
import subprocess
import sys

import pytest

from llm_compare.services.discovery import demo_build
from llm_compare.services.discovery.demo_build import (
    DemoBuildRunning,
    DemoBuildStatus,
    build_lock,
    read_status,
    write_status,
)


def test_only_one_build_holds_the_lock_at_a_time():
    assert not demo_build.build_running()
    with build_lock():
        assert demo_build.build_running()
        # Another process cannot take it either (flock is per open file, across processes).
        other = subprocess.run(
            [
                sys.executable,
                "-c",
                "from llm_compare.services.discovery.demo_build import build_lock\nwith build_lock(): pass",
            ],
            capture_output=True,
            text=True,
            env=os.environ.copy(),
        )
        assert other.returncode != 0 and "already being built" in other.stderr
        with pytest.raises(DemoBuildRunning), build_lock():
            pass
    assert not demo_build.build_running()


def test_a_building_status_reads_as_interrupted_once_its_process_is_gone(tmp_path):
    assert read_status() is None
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        write_status(
            DemoBuildStatus(
                "building",
                str(tmp_path),
                stage="training x",
                fraction=0.25,
                **demo_build.process_identity(sleeper.pid),
            )
        )
        status = read_status()
        assert (status.state, status.stage, status.fraction) == ("building", "training x", 0.25)
    finally:
        sleeper.kill()
    sleeper.wait()
    assert read_status().state == "interrupted"


def test_progress_goes_to_the_terminal_and_the_status_file(tmp_path, capsys):
    with demo_build.BuildProgress(tmp_path) as progress:
        assert read_status().state == "building"  # written before any work is done
        progress.progress("reading", 0.05)
        assert read_status().remaining_s is None  # start-up says nothing about the rest
        progress.expect_models(2)
        progress.progress("training small", 0.25)
        progress.model_ready("small")
        assert (read_status().stage, read_status().fraction, read_status().models_ready) == (
            "training small",
            0.25,
            ["small"],
        )
        assert read_status().remaining_s >= 0  # tqdm's estimate, once a tenth is done
        progress.progress("done", 1.0)
    status = read_status()
    assert (status.state, status.models_total, status.fraction) == ("done", 2, 1.0)
    assert status.elapsed_s >= 0 and status.error is None
    terminal = capsys.readouterr().err
    assert "training small:  25%" in terminal and "small is ready" in terminal  # drawn by tqdm


def test_a_failed_build_says_why(tmp_path):
    with pytest.raises(OSError), demo_build.BuildProgress(tmp_path):
        raise OSError("No space left on device")
    status = read_status()
    assert status.state == "failed" and status.error == "OSError: No space left on device"
