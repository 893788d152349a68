"""SIGTERM, as `timeout` and service managers send it: a run is cancelled, not failed, keeps its
partial answers and exits 130; the dashboard's server never outlives `llm-compare ui`; and every
process of ours is gone within 5 s (service managers send SIGKILL soon after)."""

import os
import signal
import subprocess
import sys
import time
import urllib.request

import psutil
import pytest

from llm_compare.services.store.run_store import RunStore
from tests.support.dashboard_driver import free_port

pytestmark = pytest.mark.slow

GONE_WITHIN_S = 5.0


def start_cli(*args: str) -> subprocess.Popen:
    """`llm-compare ARGS` in a process group of its own, as a service manager starts it."""
    return subprocess.Popen(
        [sys.executable, "-m", "llm_compare.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        bufsize=0,
        env=os.environ.copy(),
        start_new_session=True,
    )


def descendants(process: subprocess.Popen) -> list[psutil.Process]:
    return psutil.Process(process.pid).children(recursive=True)


def left_running(cli: subprocess.Popen, descendants: list[psutil.Process], sent: float) -> list[str]:
    """What still runs GONE_WITHIN_S after the signal was `sent`: the CLI, its descendants."""
    try:
        cli.wait(timeout=max(0.0, sent + GONE_WITHIN_S - time.monotonic()))
    except subprocess.TimeoutExpired:
        return [f"the CLI ({cli.pid})"]
    _, alive = psutil.wait_procs(descendants, timeout=max(0.0, sent + GONE_WITHIN_S - time.monotonic()))
    return [" ".join(p.cmdline()[:4]) for p in alive if p.status() != psutil.STATUS_ZOMBIE]


@pytest.mark.parametrize("model", ["long-llama", "long-llama-f32.gguf"])
def test_sigterm_to_the_process_group_cancels_the_run_keeps_the_text_and_exits_130(long_context_dir, model):
    cli = start_cli(
        "run",
        "--model",
        str(long_context_dir / model),
        "--prompt",
        "import os",
        "--max-tokens",
        "4000",
        "--temperature",
        "0",
        "--mode",
        "raw",
    )
    try:
        header = cli.stdout.readline().decode()  # printed with the first streamed text: generating
        workers = descendants(cli)
        assert len(workers) == 1, "the model's worker"
        sent = time.monotonic()
        os.killpg(cli.pid, signal.SIGTERM)
        assert left_running(cli, workers, sent) == []
    finally:
        cli.kill()
        _, err = cli.communicate(timeout=60)
    assert header.startswith("── long-llama"), err.decode()
    assert cli.returncode == 130
    [stored] = RunStore().list()
    assert stored.finish_reason == "cancelled" and stored.error is None
    assert stored.text and 0 < stored.stats["completion_tokens"] < 4000
    assert stored.stats["ttft_s"] is not None, "the worker reported its run: it was not cut off"


def start_ui(models_dir) -> tuple[subprocess.Popen, str]:
    port = free_port()
    cli = start_cli("ui", "--no-browser", "--port", str(port), "--models-dir", str(models_dir))
    url = f"http://127.0.0.1:{port}"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and cli.poll() is None:
        try:
            with opener.open(f"{url}/_stcore/health", timeout=2):
                return cli, url
        except OSError:
            time.sleep(0.2)
    cli.kill()
    raise AssertionError(f"the dashboard did not start: {cli.stderr.read().decode()[-2000:]}")


def port_closed(url: str) -> bool:
    try:
        urllib.request.build_opener(urllib.request.ProxyHandler({})).open(f"{url}/_stcore/health", timeout=2)
    except OSError:
        return True
    return False


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_the_dashboard_server_never_outlives_the_ui_command(tiny_dir, signum):
    """Only the CLI's own pid is signalled. SIGKILL is what a service manager sends when SIGTERM
    was not enough; the server must not be left running, orphaned, then either."""
    cli, url = start_ui(tiny_dir)
    servers = descendants(cli)
    try:
        assert [p.cmdline()[1:4] for p in servers] == [["-m", "streamlit", "run"]]
        sent = time.monotonic()
        os.kill(cli.pid, signum)
        assert left_running(cli, servers, sent) == []
        assert port_closed(url)
    finally:
        for process in servers:  # by their own pids, should any be left
            try:
                process.kill()
            except psutil.NoSuchProcess:
                pass
        cli.wait(10)
    assert cli.returncode == -signal.SIGKILL if signum == signal.SIGKILL else 128 + signal.SIGTERM
