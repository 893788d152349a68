"""The first run as a new user sees it: no Streamlit settings in HOME, no one at the terminal.
`llm-compare ui` must come up without asking anything and open the browser tab itself (only
where there is a display); `scripts/start.sh` must open the dashboard at once while the demo
models are built behind it."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

from llm_compare.services.discovery.demo_build import build_lock, read_status
from llm_compare.services.discovery.model_manager import ModelManager

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
HEALTH_TIMEOUT_S = 60  # a loaded 2-core machine; it usually answers in a few seconds
NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def healthy(port: int) -> bool:
    try:
        with NO_PROXY.open(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def executable(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


class Started:
    """A command started in its own process group, as a fresh user's terminal would: a new
    HOME, no standard input. Stopped, with everything it started, by its process group."""

    def __init__(self, command: list[str], tmp_path: Path, cwd: Path | None = None, **env: str) -> None:
        home = tmp_path / "fresh-home"
        home.mkdir(exist_ok=True)
        environ = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "BROWSER")}
        environ.update(HOME=str(home), **env)  # LLM_COMPARE_HOME: the test's private home
        self.log = tmp_path / "output.log"
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                command,
                cwd=cwd,
                env=environ,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_healthy(self, port: int) -> float:
        """Seconds until the health check answered; fails with the output if it never did."""
        started = time.monotonic()
        while time.monotonic() - started < HEALTH_TIMEOUT_S:
            if healthy(port):
                return time.monotonic() - started
            assert self.process.poll() is None, f"exited {self.process.returncode}:\n{self.output()[-2000:]}"
            time.sleep(0.25)
        pytest.fail(f"no answer on port {port} in {HEALTH_TIMEOUT_S} s; output:\n{self.output()[-2000:]}")

    def wait_for_output(self, text: str, timeout_s: float = 30) -> None:
        """Until the command has printed `text`; fails with the output if it never did."""
        deadline = time.monotonic() + timeout_s
        while text not in self.output():
            assert time.monotonic() < deadline, f"{text!r} never printed; output:\n{self.output()[-2000:]}"
            assert self.process.poll() is None, f"exited {self.process.returncode}:\n{self.output()[-2000:]}"
            time.sleep(0.1)

    def stop(self) -> None:
        for sig, grace in ((signal.SIGTERM, 15), (signal.SIGKILL, 15)):
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.process.wait(timeout=grace)
                break
            except subprocess.TimeoutExpired:
                continue
        self.process.wait()


@pytest.fixture
def start(tmp_path):
    started: list[Started] = []

    def start_(command: list[str], **kwargs) -> Started:
        started.append(Started(command, tmp_path, **kwargs))
        return started[-1]

    yield start_
    for process in started:
        process.stop()


@pytest.fixture
def browser_log(tmp_path) -> tuple[Path, Path]:
    """A stand-in browser ($BROWSER) that records each URL it is asked to open, and whether the
    dashboard answered its health check at that moment."""
    log = tmp_path / "browser.log"
    script = executable(
        tmp_path / "record-browser",
        f"""#!{sys.executable}
import sys, urllib.request
opener = urllib.request.build_opener(urllib.request.ProxyHandler({{}}))
try:
    answered = opener.open(sys.argv[1] + "/_stcore/health", timeout=5).status == 200
except OSError:
    answered = False
with open({str(log)!r}, "a") as log:
    log.write(f"{{sys.argv[1]}} {{answered}}\\n")
""",
    )
    return script, log


def ui_command(port: int, models_dir: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "llm_compare.cli",
        "ui",
        "--port",
        str(port),
        "--models-dir",
        str(models_dir),
        *extra,
    ]


def test_ui_starts_without_a_terminal_or_prompt_and_opens_no_browser_without_a_display(
    start, tmp_path, browser_log
):
    port = free_port()
    script, log = browser_log
    ui = start(ui_command(port, tmp_path), BROWSER=str(script))
    ui.wait_healthy(port)
    ui.wait_for_output("no browser tab opened (no display)")  # the decision, once it is made
    assert "Email" not in ui.output() and "Welcome to Streamlit" not in ui.output()
    assert f"http://127.0.0.1:{port}" in ui.output()  # the address is printed for the user
    assert not log.exists()


def test_ui_opens_the_browser_once_after_the_dashboard_answers(start, tmp_path, browser_log):
    port = free_port()
    script, log = browser_log
    ui = start(ui_command(port, tmp_path), BROWSER=str(script), DISPLAY=":0")
    ui.wait_healthy(port)
    deadline = time.monotonic() + 60  # a Python start and a health check: seconds on a loaded machine
    while not log.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1)  # time for a second one, were it opened twice
    assert log.read_text().splitlines() == [f"http://127.0.0.1:{port} True"]
    assert "Email" not in ui.output()


def test_ui_no_browser_opens_none_even_with_a_display(start, tmp_path, browser_log):
    port = free_port()
    script, log = browser_log
    ui = start(ui_command(port, tmp_path, "--no-browser"), BROWSER=str(script), DISPLAY=":0")
    ui.wait_healthy(port)
    ui.wait_for_output("no browser tab opened (--no-browser)")
    assert not log.exists()


def test_start_sh_opens_the_dashboard_at_once_while_the_demo_builds_behind_it(start, tmp_path, private_home):
    # start.sh as it is, in a copy of the repository whose set-up is already done: this test's
    # Python environment stands in for .venv (installing one is not what is tested here).
    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    shutil.copy2(ROOT / "scripts" / "start.sh", repo / "scripts" / "start.sh")
    executable(repo / "scripts" / "setup.sh", "#!/bin/sh\n")
    (repo / ".venv" / "bin").mkdir(parents=True)
    executable(
        repo / ".venv" / "bin" / "llm-compare",
        f'#!/bin/sh\nexec "{sys.executable}" -m llm_compare.cli "$@"\n',
    )
    (repo / "models").mkdir()

    port = free_port()
    dashboard = start(["bash", str(repo / "scripts" / "start.sh"), "--port", str(port)], cwd=tmp_path)
    seconds = dashboard.wait_healthy(port)

    # The dashboard answers while the build is still on its first model (the full demo's first
    # model takes about a minute; before, start.sh built everything first, for minutes).
    status = read_status()
    assert status is not None and status.state == "building", (status, dashboard.output()[-2000:])
    assert status.models_dir == str((repo / "models").resolve()) and status.models_ready == []
    assert "Email" not in dashboard.output()
    print(f"healthy after {seconds:.1f} s, build at {status.fraction:.0%}: {status.stage}")
    build = psutil.Process(status.pid)
    dashboard.stop()
    assert not build.is_running() or build.status() == psutil.STATUS_ZOMBIE  # stopped with the dashboard
    assert read_status().state == "interrupted"


def test_demo_command_shows_progress_in_the_terminal_and_the_status_file(tmp_path):
    command = [
        sys.executable,
        "-m",
        "llm_compare.cli",
        "demo",
        "--size",
        "smoke",
        "--dir",
        str(tmp_path / "models"),
    ]
    with build_lock():  # another build is running: this one refuses, in one line, and leaves its status alone
        refused = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and refused.stderr.strip().splitlines() == [
        "error: the demo models are already being built by another process; wait for it "
        "(the Models page shows its progress) or stop it"
    ]
    assert read_status() is None

    built = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr[-2000:]
    status = read_status()
    assert (status.state, status.fraction, status.models_total) == ("done", 1.0, 2)
    found = {m.name for m in ModelManager([tmp_path / "models"]).scan() if m.usable}
    assert len(status.models_ready) == 2
    assert found == {f"{name}{form}" for name in status.models_ready for form in ("", "-f32", "-q8_0")}
    assert "100%|" in built.stderr and f"{status.models_ready[0]} is ready" in built.stderr  # tqdm's bar
